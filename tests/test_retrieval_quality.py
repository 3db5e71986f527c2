"""Retrieval quality smoke check with the real bundled model, so a regression fails CI.

A fixed SciFact subset: the first 40 test queries, their relevant documents,
and hard distractors: for each query, the 4 non-relevant documents sharing the
most words with it (so both BM25 and dense retrieval have to rank, not just
match).
It is ingested through the real pipeline and embedded by the default ONNX
model. The floors sit a few points under the values measured when this test
was written (see the comments); the pipeline is deterministic, so the margin
only absorbs floating-point differences between machines. A real regression
in chunking, BM25, the embedder or fusion drops below them, as the last test
shows for an embedder that knows no meaning.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from grounded.config import load_settings
from grounded.domain import Acl, Principal
from grounded.ingest.sources import open_source
from grounded.runtime import Runtime

from .conftest import SCIFACT

QUERIES = 40
DISTRACTORS_PER_QUERY = 4
PRINCIPAL = Principal.of("bench")


def _subset(tmp: Path) -> tuple[Path, dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with (SCIFACT / "qrels" / "test.tsv").open() as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.split()
            if qid in qrels or len(qrels) < QUERIES:
                qrels.setdefault(qid, {})[did] = int(score)
    relevant = {d for docs in qrels.values() for d in docs}
    queries = {}
    with (SCIFACT / "queries.jsonl").open() as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    lines = (SCIFACT / "corpus.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    words = [_words(r["title"] + " " + r["text"]) for r in records]
    keep = {r["_id"] for r in records if r["_id"] in relevant}
    for text in queries.values():
        q = _words(text)
        overlap = sorted(range(len(records)), key=lambda i: -len(q & words[i]))
        hard = [records[i]["_id"] for i in overlap if records[i]["_id"] not in relevant]
        keep.update(hard[:DISTRACTORS_PER_QUERY])
    corpus = tmp / "corpus.jsonl"
    corpus.write_text(
        "".join(f"{line}\n" for line, r in zip(lines, records, strict=True) if r["_id"] in keep)
    )
    return corpus, queries, qrels


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{4,}", text.lower())}


def _ingest(tmp: Path, corpus: Path, **settings: object) -> Runtime:
    rt = Runtime(load_settings(data_dir=tmp / "data", **settings))
    source = open_source(corpus, "beir", max_file_bytes=10**9)
    report = rt.ingestor().run(source, collection="scifact", acl=Acl.of("bench"))
    assert report.failed == 0
    return rt


@pytest.fixture(scope="module")
def scifact_runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, dict, dict]:
    tmp = tmp_path_factory.mktemp("scifact")
    corpus, queries, qrels = _subset(tmp)
    rt = _ingest(tmp, corpus)
    assert rt.store.stats()["documents"] > len(qrels)
    return rt, queries, qrels


def _ndcg(rt: Runtime, queries: dict, qrels: dict, mode: str) -> float:
    """Mean nDCG@10 over the queries (binary relevance, documents ranked by best chunk)."""
    total = 0.0
    for qid, text in queries.items():
        ranked = [d for d, _ in rt.retriever.best_per_document(text, PRINCIPAL, k=10, mode=mode)]
        rels = qrels[qid]
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rels), 10)))
        total += dcg / ideal
    return total / len(queries)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "floor"),
    [
        ("bm25", 0.83),  # measured 0.8674 when written
        ("dense", 0.87),  # measured 0.9085
        ("hybrid", 0.87),  # measured 0.9103 (weighted fusion, the default)
    ],
)
def test_ndcg_on_scifact_subset_stays_above_floor(
    scifact_runtime: tuple[Runtime, dict, dict], mode: str, floor: float
) -> None:
    rt, queries, qrels = scifact_runtime
    score = _ndcg(rt, queries, qrels, mode)
    print(f"{mode} nDCG@10 = {score:.4f}")
    assert score >= floor, f"{mode} nDCG@10 {score:.4f} fell below {floor}"


@pytest.mark.slow
def test_hybrid_beats_each_retriever_alone(scifact_runtime: tuple[Runtime, dict, dict]) -> None:
    rt, queries, qrels = scifact_runtime
    hybrid = _ndcg(rt, queries, qrels, "hybrid")
    assert hybrid >= _ndcg(rt, queries, qrels, "bm25") - 0.01
    assert hybrid >= _ndcg(rt, queries, qrels, "dense") - 0.01


@pytest.mark.slow
def test_the_floors_catch_a_broken_embedder(tmp_path: Path) -> None:
    """The check can fail: the hash embedder (no semantics) falls far below the dense floor."""
    corpus, queries, qrels = _subset(tmp_path)
    rt = _ingest(tmp_path, corpus, embedder={"kind": "hash", "dim": 384})
    assert _ndcg(rt, queries, qrels, "dense") < 0.87
