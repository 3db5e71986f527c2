"""The HNSW path of dense search: same answers as exact, ACL still inside, never stale."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from grounded.domain import Acl, Principal, SearchFilters
from grounded.index.sqlite import ANN_FILE, SqliteStore
from grounded.testing.store_conformance import EMBEDDER, put

WORDS = ["robot", "vacation", "salary", "vpn", "password"]
WORDS += ["falcon", "budget", "incident", "laptop", "printer"]
ACME = Principal.of("acme", "alice", ["staff"])


def _corpus(store: SqliteStore, n: int = 400) -> None:
    rng = random.Random(3)
    for i in range(n):
        acl = Acl.of("acme") if i % 3 else Acl.of("acme", groups=["hr"])
        put(store, f"d{i}", [" ".join(rng.choices(WORDS, k=6))], acl)


def _ids(hits: list) -> list[int]:
    return [h.chunk_id for h in hits]


def test_hnsw_results_match_exact_search(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, ann_min_chunks=100)
    _corpus(store)
    assert store.refresh_derived()["hnsw"] and (tmp_path / ANN_FILE).exists()
    exact = SqliteStore(tmp_path, ann_min_chunks=10**9)
    overlap = []
    for words in (["robot", "vpn"], ["salary"], ["incident", "laptop", "printer"]):
        q = EMBEDDER.embed([" ".join(words)], kind="query")[0]
        approx = store.vector_search(q, ACME, SearchFilters(), 20)
        truth = exact.vector_search(q, ACME, SearchFilters(), 20)
        assert store._ann is not None  # noqa: SLF001 - the HNSW path was taken
        overlap.append(len(set(_ids(approx)) & set(_ids(truth))) / 20)
        scores = [h.score for h in approx]
        assert scores == sorted(scores, reverse=True)
    assert np.mean(overlap) >= 0.9


def test_hnsw_never_returns_rows_the_principal_cannot_read(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, ann_min_chunks=100)
    _corpus(store)
    store.refresh_derived()
    q = EMBEDDER.embed(["salary robot"], kind="query")[0]
    hits = store.vector_search(q, ACME, SearchFilters(), 400)
    docs = store.fetch(_ids(hits), Principal.of("acme", groups=["hr"]))
    assert len(hits) == sum(1 for i in range(400) if i % 3)  # every readable row, no other
    assert all(doc.acl.is_open for _, doc in docs.values())


def test_a_stale_hnsw_index_is_not_used(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, ann_min_chunks=100)
    _corpus(store)
    store.refresh_derived()
    put(store, "new", ["zebra giraffe"], Acl.of("acme"))  # no refresh: the HNSW index is stale
    q = EMBEDDER.embed(["zebra giraffe"], kind="query")[0]
    [best] = store.vector_search(q, ACME, SearchFilters(), 1)
    assert store.fetch([best.chunk_id], ACME)[best.chunk_id][1].doc_id == "new"
    assert store._ann is None  # noqa: SLF001 - fell back to exact search


def test_small_indexes_stay_exact(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, ann_min_chunks=10_000)
    _corpus(store, 50)
    assert not store.refresh_derived()["hnsw"]
    assert not (tmp_path / ANN_FILE).exists()
