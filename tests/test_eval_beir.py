"""`grounded eval retrieval --beir` on a small slice of SciFact, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from grounded.evals.datasets import load_beir
from tests.conftest import SCIFACT
from tests.helpers import grounded, ok_json


def _slice(root: Path, queries: int = 20, others: int = 200) -> Path:
    """20 judged test queries, their relevant documents, and 200 others."""
    split = load_beir(SCIFACT, "test")
    kept = dict(list(split.qrels.items())[:queries])
    wanted = {doc for rels in kept.values() for doc in rels}
    lines = SCIFACT.joinpath("corpus.jsonl").read_text().splitlines()
    corpus = [ln for ln in lines if json.loads(ln)["_id"] in wanted]
    corpus += [ln for ln in lines[:others] if json.loads(ln)["_id"] not in wanted]
    out = root / "scifact-slice"
    (out / "qrels").mkdir(parents=True)
    (out / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (out / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": q, "text": split.queries[q]}) for q in kept) + "\n"
    )
    rows = [f"{q}\t{d}\t{g}" for q, rels in kept.items() for d, g in rels.items()]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return out


def test_eval_retrieval_ingests_once_and_scores_the_split(tmp_path: Path) -> None:
    beir = _slice(tmp_path)
    first = ok_json(grounded("eval", "retrieval", "--beir", beir, "--json", cwd=tmp_path))
    assert first["queries"] == 20 and first["documents_added"] > 200
    ndcg = first["metrics"]["ndcg@10"]
    assert 0.5 < ndcg["mean"] <= 1.0 and ndcg["low"] <= ndcg["mean"] <= ndcg["high"]
    assert set(first["metrics"]) == {"ndcg@10", "recall@100", "mrr@10", "hit@10", "precision@10"}
    again = ok_json(grounded("eval", "retrieval", "--beir", beir, "--json", cwd=tmp_path))
    assert again["documents_added"] == 0 and again["metrics"] == first["metrics"]
    text = grounded("eval", "retrieval", "--beir", beir, cwd=tmp_path)
    assert text.returncode == 0 and "ndcg@10" in text.stdout
    missing = grounded("eval", "retrieval", "--beir", beir, "--split", "dev", cwd=tmp_path)
    assert missing.returncode == 2 and "qrels/dev.tsv" in missing.stderr
