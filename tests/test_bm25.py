"""The in-memory BM25 index: agrees with FTS5, keeps the ACL inside, never stale."""

from __future__ import annotations

import random
from pathlib import Path

from grounded.domain import Acl, Principal, SearchFilters
from grounded.index.bm25 import Tokenizer
from grounded.index.sqlite import BM25_FILE, SqliteStore
from grounded.testing.store_conformance import put

WORDS = ["robot", "robots", "vacation", "salary", "vpn", "password", "falcon"]
WORDS += ["budget", "incident", "laptop", "printer", "running", "runs"]
ACME = Principal.of("acme", "alice", ["staff"])


VOCAB = WORDS + [f"term{i}" for i in range(60)]
ZIPF = [1 / (rank + 1) for rank in range(len(VOCAB))]


def _corpus(store: SqliteStore, n: int = 300) -> None:
    """Zipf-distributed words and varied lengths: few ties, realistic term statistics."""
    rng = random.Random(5)
    for i in range(n):
        acl = Acl.of("acme") if i % 4 else Acl.of("acme", groups=["hr"])
        words = rng.choices(VOCAB, weights=ZIPF, k=rng.randint(5, 40))
        put(store, f"d{i}", [" ".join(words)], acl)


def test_tokenizer_folds_case_diacritics_stop_words_and_stems() -> None:
    assert Tokenizer()("The Robots were RUNNING to the café") == ["robot", "run", "cafe"]


def test_rankings_agree_with_fts5(tmp_path: Path) -> None:
    fast = SqliteStore(tmp_path, bm25_min_chunks=0)
    _corpus(fast)
    assert fast.refresh_derived()["bm25"] and (tmp_path / BM25_FILE).exists()
    sql = SqliteStore(tmp_path, bm25_min_chunks=10**9)
    sql.refresh_derived()  # a store with a high threshold removes the file ...
    fast.refresh_derived()  # ... and this puts it back
    for query in ("robot term3", "running term10 term20", "vpn password laptop"):
        a = fast.keyword_search(query, ACME, SearchFilters(), 20)
        b = SqliteStore(tmp_path, bm25_min_chunks=10**9)._sql_keyword_search(  # noqa: SLF001
            query, ACME, SearchFilters(), 20
        )
        assert fast._bm25 is not None  # noqa: SLF001 - the in-memory path was taken
        assert len(a) == len(b) == 20
        overlap = len({h.chunk_id for h in a[:10]} & {h.chunk_id for h in b[:10]})
        assert overlap >= 8, f"{query}: only {overlap}/10 in common"


def test_acl_and_filters_apply_before_ranking(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, bm25_min_chunks=0)
    _corpus(store)
    put(store, "other", ["robot robot robot"], Acl.of("acme"), collection="other")
    store.refresh_derived()
    hits = store.keyword_search("robot", ACME, SearchFilters(collections=("c",)), 500)
    docs = store.fetch([h.chunk_id for h in hits], Principal.of("acme", groups=["hr"]))
    assert len(docs) == len(hits) > 0
    assert all(doc.acl.is_open and doc.collection == "c" for _, doc in docs.values())


def test_a_stale_index_is_not_used(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, bm25_min_chunks=0)
    _corpus(store)
    store.refresh_derived()
    put(store, "new", ["zebra giraffe"], Acl.of("acme"))
    [hit] = store.keyword_search("zebra", ACME, SearchFilters(), 5)
    assert store.fetch([hit.chunk_id], ACME)[hit.chunk_id][1].doc_id == "new"
    assert store._bm25 is None  # noqa: SLF001 - answered by FTS5


def test_documents_a_principal_cannot_read_change_neither_their_results_nor_scores(
    tmp_path: Path,
) -> None:
    """Statistics are the principal's: hidden documents full of a query term shift nothing."""
    alone, crowded = SqliteStore(tmp_path / "a"), SqliteStore(tmp_path / "b")
    for store in (alone, crowded):
        _corpus(store)
    for i in range(50):  # "falcon" everywhere, readable by hr only, and another tenant's
        put(crowded, f"hidden{i}", ["falcon falcon robot plan"], Acl.of("acme", groups=["hr"]))
        put(crowded, f"globex{i}", ["falcon vpn"], Acl.of("globex"))
    for store in (alone, crowded):
        store.refresh_derived()
    for query in ("falcon robot", "vpn falcon term3", "robot"):
        a = alone.keyword_search(query, ACME, SearchFilters(), 30)
        b = crowded.keyword_search(query, ACME, SearchFilters(), 30)
        assert [(h.rank, round(h.score, 5)) for h in a] == [(h.rank, round(h.score, 5)) for h in b]
        docs_a = alone.fetch([h.chunk_id for h in a], ACME)
        docs_b = crowded.fetch([h.chunk_id for h in b], ACME)
        assert [docs_a[h.chunk_id][1].doc_id for h in a] == [
            docs_b[h.chunk_id][1].doc_id for h in b
        ]


def test_an_index_from_an_older_version_is_rebuilt_on_first_search(tmp_path: Path) -> None:
    import numpy as np

    store = SqliteStore(tmp_path)
    _corpus(store)
    store.refresh_derived()
    with np.load(tmp_path / BM25_FILE) as data:  # rewrite it without a format: version 1
        old = {k: data[k] for k in data.files if k != "format"}
    np.savez(tmp_path / BM25_FILE, **old)
    reopened = SqliteStore(tmp_path)
    assert reopened.keyword_search("robot", ACME, SearchFilters(), 5)
    assert reopened._bm25 is not None  # noqa: SLF001 - rebuilt, not FTS5
    with np.load(tmp_path / BM25_FILE) as data:
        assert "format" in data.files
