"""Retrieval metrics: hand-labelled cases, bootstrap intervals, agreement with ranx on SciFact."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from grounded.errors import InvalidRequest
from grounded.evals.datasets import load_beir, load_golden, read_qrels
from grounded.evals.metrics import (
    aggregate,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    per_item,
    precision_at_k,
    recall_at_k,
)
from grounded.index.bm25 import Bm25Index
from tests.conftest import SCIFACT

QRELS = {"a": 2, "b": 1, "z": 0}  # z judged, not relevant
RANKED = ["x", "b", "z", "a", "y"]


def test_each_metric_on_a_hand_labelled_ranking() -> None:
    assert hit_at_k(QRELS, RANKED, 1) == 0.0 and hit_at_k(QRELS, RANKED, 2) == 1.0
    assert recall_at_k(QRELS, RANKED, 2) == 0.5 and recall_at_k(QRELS, RANKED, 4) == 1.0
    assert precision_at_k(QRELS, RANKED, 4) == 0.5
    assert precision_at_k(QRELS, ["b"], 10) == 0.1  # a short ranking is not padded
    assert mrr_at_k(QRELS, RANKED, 5) == 0.5 and mrr_at_k(QRELS, RANKED, 1) == 0.0
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(QRELS, RANKED, 5) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(QRELS, ["a", "b"], 2) == pytest.approx(1.0)


def test_an_item_without_relevant_documents_or_results_scores_zero() -> None:
    for name in ("hit@5", "recall@5", "precision@5", "mrr@5", "ndcg@5"):
        metric, k = parse_metric(name)
        assert metric({"z": 0}, RANKED, k) == 0.0
        assert metric(QRELS, [], k) == 0.0


def test_unknown_metric_names_say_what_exists() -> None:
    for bad in ("ndcg", "ndcg@0", "map@10", "recall@x"):
        with pytest.raises(ValueError, match="ndcg@K"):
            parse_metric(bad)


def test_bootstrap_intervals_are_reproducible_and_contain_the_mean() -> None:
    values = [float(i % 7 == 0) for i in range(300)]
    first, second = aggregate(values), aggregate(values)
    assert first == second
    assert first.low <= first.mean <= first.high and first.n == 300
    assert 0 < first.high - first.low < 0.2
    assert aggregate([0.5] * 10).low == aggregate([0.5] * 10).high == 0.5
    assert math.isnan(aggregate([]).mean)


# ---------------------------------------------------------------- datasets


def test_golden_items_load_and_bad_lines_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    item = {
        "id": "q1", "question": "How many days carry over?",
        "principal": {"tenant": "acme", "groups": ["staff"]},
        "expected_sources": ["handbook/vacation.md"], "must_refuse": False,
        "attack": {"kind": "injection", "must_not_contain": ["system prompt"]},
        "schema": {"type": "object"}, "tags": ["answerable"],
    }  # fmt: skip
    path.write_text(json.dumps(item) + "\n\n" + json.dumps({"id": "q2", "question": "x"}) + "\n")
    first, second = load_golden(path)
    assert first.expected_sources == {"handbook/vacation.md": 1}
    assert first.principal is not None and first.principal.principal().groups == {"staff"}
    assert first.output_schema == {"type": "object"} and second.principal is None
    path.write_text(json.dumps({"id": "q1", "question": "x", "must_refuse": "perhaps"}) + "\n")
    with pytest.raises(InvalidRequest, match=r"set\.jsonl:1: must_refuse"):
        load_golden(path)
    path.write_text(
        json.dumps({"id": "q1", "question": "x"}) + "\n" + '{"id": "q1", "question": "y"}'
    )
    with pytest.raises(InvalidRequest, match=r":2: duplicate id 'q1'"):
        load_golden(path)


def test_beir_loads_the_judged_queries_of_a_split(tmp_path: Path) -> None:
    split = load_beir(SCIFACT, "test")
    assert len(split.queries) == len(split.qrels) == 300
    trec = tmp_path / "qrels.txt"
    trec.write_text("1 0 doc-a 2\n1 0 doc-b 0\n")
    assert read_qrels(trec) == {"1": {"doc-a": 2, "doc-b": 0}}
    with pytest.raises(InvalidRequest, match="qrels/dev.tsv"):
        load_beir(SCIFACT, "dev")


# ---------------------------------------------------------------- against ranx


@pytest.fixture(scope="module")
def scifact_run() -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """A real SciFact run: our BM25 index over the corpus, top 100 for each test query."""
    split = load_beir(SCIFACT, "test")
    docs = [json.loads(line) for line in split.corpus.read_text().splitlines()]
    index = Bm25Index.build(0, ((i, 0, f"{d['title']} {d['text']}") for i, d in enumerate(docs)))
    import numpy as np

    allowed = np.array([0], dtype=np.int64)
    ranked = {
        qid: [docs[h.chunk_id]["_id"] for h in index.search(text, allowed, 100)]
        for qid, text in split.queries.items()
    }
    return split.qrels, ranked


def test_metrics_equal_ranx_to_1e_6_on_a_scifact_run(
    scifact_run: tuple[dict[str, dict[str, int]], dict[str, list[str]]],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's import-time warnings are not ours
        from ranx import Qrels, Run, evaluate

    qrels, ranked = scifact_run
    names = [
        f"{m}@{k}" for m in ("hit", "recall", "precision", "mrr", "ndcg") for k in (1, 10, 100)
    ]
    ours = per_item(names, qrels, ranked)
    run = Run({q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in ranked.items()})
    ranx_names = [n.replace("hit@", "hit_rate@") for n in names]
    judged = Qrels(qrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = evaluate(judged, run, ranx_names, return_mean=False)
    assert isinstance(theirs, dict)
    order = list(judged.keys())  # ranx's per-query arrays follow its own query order
    assert sorted(order) == sorted(qrels)
    for name, ranx_name in zip(names, ranx_names, strict=True):
        per_query = theirs[ranx_name]
        for i, qid in enumerate(order):
            assert ours[name][qid] == pytest.approx(float(per_query[i]), abs=1e-6), (name, qid)
        mean = aggregate(list(ours[name].values())).mean
        assert mean == pytest.approx(float(per_query.mean()), abs=1e-6), name
    assert aggregate(list(ours["ndcg@10"].values())).mean > 0.6  # a real run, not a degenerate one
