"""ACL isolation as a property: no search path ever shows a document the principal can't read.

Random documents get random tenants and allow lists; random principals run
random queries through every retrieval mode. Each result, each count, each
explanation and each catalog view is checked against `Acl.permits`, the
reference rule from DESIGN.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grounded.config import RetrievalConfig
from grounded.domain import Acl, Principal, SearchFilters
from grounded.embed.hashing import HashEmbedder
from grounded.index.sqlite import SqliteStore
from grounded.retrieval.hybrid import HybridRetriever
from grounded.testing.store_conformance import put

TENANTS = ["acme", "globex", "initech"]
USERS = ["alice", "bob", "carol", "dave"]
GROUPS = ["staff", "hr", "security", "exec"]
WORDS = ["vacation", "salary", "vpn", "password", "robot", "falcon", "budget", "incident"]

acls = st.builds(
    Acl.of,
    st.sampled_from(TENANTS),
    st.lists(st.sampled_from(USERS), max_size=2),
    st.lists(st.sampled_from(GROUPS), max_size=2),
)
documents = st.lists(
    st.tuples(
        acls,
        st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=25,
)
principals = st.builds(
    Principal.of,
    st.sampled_from([*TENANTS, "nobody"]),
    st.one_of(st.none(), st.sampled_from(USERS)),
    st.lists(st.sampled_from(GROUPS), max_size=3),
)
queries = st.lists(st.sampled_from([*WORDS, "the", "unknown"]), min_size=1, max_size=4).map(
    " ".join
)


scenarios = given(
    docs=documents,
    people=st.lists(principals, min_size=1, max_size=4),
    qs=st.lists(queries, min_size=1, max_size=3),
)
slow_ok = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=120, deadline=None, suppress_health_check=slow_ok)
@scenarios
def test_no_search_path_leaks(
    docs: list[tuple[Acl, list[list[str]]]], people: list[Principal], qs: list[str]
) -> None:
    _no_leaks(docs, people, qs, accelerated=False)


@settings(max_examples=40, deadline=None, suppress_health_check=slow_ok)
@scenarios
def test_no_search_path_leaks_through_the_accelerated_indexes(
    docs: list[tuple[Acl, list[list[str]]]], people: list[Principal], qs: list[str]
) -> None:
    _no_leaks(docs, people, qs, accelerated=True)


def _no_leaks(
    docs: list[tuple[Acl, list[list[str]]]],
    people: list[Principal],
    qs: list[str],
    *,
    accelerated: bool,
) -> None:
    """`accelerated` forces the HNSW and in-memory BM25 paths instead of exact and FTS5."""
    threshold = 0 if accelerated else 10**9
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp), ann_min_chunks=threshold, bm25_min_chunks=threshold)
        embedder = HashEmbedder(64)
        store.bind_embedding_model(embedder.model_id, embedder.revision, embedder.dim)
        acl_of: dict[str, Acl] = {}
        for i, (acl, chunks) in enumerate(docs):
            doc_id = f"d{i}"
            acl_of[doc_id] = acl
            put(store, doc_id, [" ".join(words) for words in chunks], acl)
        if accelerated:
            assert store.refresh_derived() == {"hnsw": True, "bm25": True}
        retriever = HybridRetriever(store, lambda: embedder, RetrievalConfig(candidates=50))
        try:
            for principal in people:
                visible = {d for d, acl in acl_of.items() if acl.permits(principal)}
                _check_catalog(store, principal, visible)
                for q in qs:
                    _check_search(store, retriever, principal, q, visible)
        finally:
            store.close()


def _check_catalog(store: SqliteStore, principal: Principal, visible: set[str]) -> None:
    assert {d.doc_id for d in store.list_documents(principal)} == visible
    for doc in store.list_documents(None):
        shown = store.get_document(doc.doc_id, principal)
        assert (shown is not None) == (doc.doc_id in visible)


def _check_search(
    store: SqliteStore, retriever: HybridRetriever, principal: Principal, q: str, visible: set[str]
) -> None:
    f = SearchFilters()
    for mode in ("hybrid", "bm25", "dense"):
        results = retriever.search(q, principal, k=100, mode=mode).results
        assert {r.document.doc_id for r in results} <= visible
        for r in results:
            assert r.document.acl.permits(principal)
    # Raw retriever hits: every chunk handle the store returns must be readable.
    bm25 = store.keyword_search(q, principal, f, 1000)
    vec = HashEmbedder(64).embed([q], kind="query")[0]
    dense = store.vector_search(vec, principal, f, 1000)
    readable = store.fetch([h.chunk_id for h in [*bm25, *dense]], principal)
    assert len(readable) == len({h.chunk_id for h in [*bm25, *dense]})
    # Counts: the dense side returns every visible chunk (k is larger than the index),
    # so its count must equal the number of visible chunks, never more.
    visible_chunks = sum(len(store.chunks_of(d)) for d in store.list_documents(principal))
    assert len(dense) == visible_chunks
