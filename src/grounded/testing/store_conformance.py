"""A conformance suite every store backend must pass.

Subclass `StoreConformance` in a test module and provide a `store` fixture
returning an empty store of your backend; pytest collects the inherited tests.

    class TestSqliteStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            return SqliteStore(tmp_path)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from grounded.domain import Acl, Chunk, Document, Principal, SearchFilters
from grounded.embed.hashing import HashEmbedder
from grounded.errors import EmbeddingModelMismatch

EMBEDDER = HashEmbedder(64)


def make_document(
    doc_id: str,
    texts: list[str],
    acl: Acl,
    *,
    collection: str = "c",
    metadata: dict[str, Any] | None = None,
) -> tuple[Document, list[Chunk], np.ndarray]:
    """A document whose chunks are `texts`, laid end to end, with hash-embedded vectors."""
    body = "\n\n".join(texts)
    chunks, offset = [], 0
    for i, t in enumerate(texts):
        chunks.append(Chunk(f"{collection}:{doc_id}#{i}", doc_id, i, t, offset, offset + len(t)))
        offset += len(t) + 2
    doc = Document(doc_id, collection, f"test://{doc_id}", doc_id.title(), f"h-{body}", acl,
                   metadata or {}, body)  # fmt: skip
    return doc, chunks, EMBEDDER.embed(texts, kind="document")


def put(store: Any, doc_id: str, texts: list[str], acl: Acl, **kwargs: Any) -> None:
    """Upsert a document embedded by the test embedder (bound to the store on first use)."""
    if store.embedding_model() is None:
        store.bind_embedding_model(EMBEDDER.model_id, EMBEDDER.revision, EMBEDDER.dim)
    doc, chunks, vectors = make_document(doc_id, texts, acl, **kwargs)
    store.upsert(doc, chunks, vectors, f"fp-{doc_id}-{len(texts)}", source_root="root")


def _docs_of_hits(store: Any, hits: Any, principal: Principal) -> set[str]:
    found = store.fetch([h.chunk_id for h in hits], principal)
    return {doc.doc_id for _, doc in found.values()}


class StoreConformance:
    """Behaviour every `DocumentStore` + `SearchIndex` + `Catalog` backend must show."""

    ACME = Principal.of("acme", "alice@acme.example", ["staff"])
    HR = Principal.of("acme", "dana@acme.example", ["staff", "hr"])
    OTHER = Principal.of("globex", "eve@globex.example", ["staff", "hr"])

    def _seed(self, store: Any) -> None:
        put(store, "open", ["vacation policy: 25 days of vacation"], Acl.of("acme"))
        put(store, "hr-only", ["salary bands and vacation payout"], Acl.of("acme", groups=["hr"]))
        put(
            store,
            "alice-only",
            ["vacation memo for alice"],
            Acl.of("acme", users=["alice@acme.example"]),
        )
        put(store, "globex", ["globex vacation rules"], Acl.of("globex"))

    def test_keyword_search_respects_acl(self, store: Any) -> None:
        self._seed(store)
        f = SearchFilters()
        for principal, expected in (
            (self.ACME, {"open", "alice-only"}),
            (self.HR, {"open", "hr-only"}),
            (self.OTHER, {"globex"}),
        ):
            hits = store.keyword_search("vacation", principal, f, 10)
            assert _docs_of_hits(store, hits, principal) == expected

    def test_vector_search_respects_acl(self, store: Any) -> None:
        self._seed(store)
        q = EMBEDDER.embed(["vacation"], kind="query")[0]
        hits = store.vector_search(q, self.ACME, SearchFilters(), 10)
        assert _docs_of_hits(store, hits, self.HR) <= {"open", "alice-only"}
        assert len(hits) == 2
        assert len(store.vector_search(q, Principal.of("nobody"), SearchFilters(), 10)) == 0

    def test_fetch_drops_chunks_the_principal_cannot_read(self, store: Any) -> None:
        self._seed(store)
        hits = store.keyword_search("vacation", self.HR, SearchFilters(), 10)
        visible = store.fetch([h.chunk_id for h in hits], self.ACME)
        assert {d.doc_id for _, d in visible.values()} == {"open"}

    def test_upsert_replaces_chunks(self, store: Any) -> None:
        put(store, "d", ["alpha one", "beta two"], Acl.of("acme"))
        put(store, "d", ["gamma three"], Acl.of("acme"))
        f = SearchFilters()
        assert store.keyword_search("alpha", self.ACME, f, 10) == []
        assert len(store.keyword_search("gamma", self.ACME, f, 10)) == 1
        doc = store.get_document("d", None)
        assert [c.text for c in store.chunks_of(doc)] == ["gamma three"]
        assert store.consistency_problems() == []

    def test_delete_removes_chunks_and_vectors(self, store: Any) -> None:
        put(store, "d", ["alpha one"], Acl.of("acme"))
        assert store.delete("c", ["d", "missing"]) == 1
        assert store.keyword_search("alpha", self.ACME, SearchFilters(), 10) == []
        q = EMBEDDER.embed(["alpha one"], kind="query")[0]
        assert store.vector_search(q, self.ACME, SearchFilters(), 10) == []
        assert store.stats()["vectors"] == 0
        assert store.consistency_problems() == []

    def test_acl_change_applies_to_chunks(self, store: Any) -> None:
        put(store, "d", ["budget figures"], Acl.of("acme"))
        put(store, "d", ["budget figures"], Acl.of("acme", groups=["finance"]))
        assert store.keyword_search("budget", self.ACME, SearchFilters(), 10) == []
        doc = store.get_document("d", None)
        assert doc.acl.allow_groups == ("finance",)

    def test_filters_by_collection_and_metadata(self, store: Any) -> None:
        put(store, "a", ["shared words"], Acl.of("acme"), collection="one", metadata={"lang": "en"})
        put(store, "b", ["shared words"], Acl.of("acme"), collection="two", metadata={"lang": "de"})
        by_collection = SearchFilters(collections=("two",))
        hits = store.keyword_search("shared", self.ACME, by_collection, 10)
        assert _docs_of_hits(store, hits, self.ACME) == {"b"}
        by_meta = SearchFilters(metadata={"lang": "en"})
        q = EMBEDDER.embed(["shared words"], kind="query")[0]
        hits = store.vector_search(q, self.ACME, by_meta, 10)
        assert _docs_of_hits(store, hits, self.ACME) == {"a"}

    def test_query_syntax_is_never_interpreted(self, store: Any) -> None:
        put(store, "d", ['he said "near" AND or NOT'], Acl.of("acme"))
        for q in ['"', "AND", "near(", "col:umn", "*", "'; DROP TABLE chunks; --"]:
            store.keyword_search(q, self.ACME, SearchFilters(), 10)  # must not raise
        assert store.consistency_problems() == []

    def test_every_vector_records_its_model(self, store: Any) -> None:
        put(store, "d", ["alpha one", "beta two"], Acl.of("acme"))
        assert store.embedding_model() == (EMBEDDER.model_id, EMBEDDER.revision, EMBEDDER.dim)
        assert store.vector_models() == {(EMBEDDER.model_id, EMBEDDER.revision): 2}
        with pytest.raises(EmbeddingModelMismatch):
            store.bind_embedding_model("other-model", "1", EMBEDDER.dim)

    def test_catalog_views(self, store: Any) -> None:
        self._seed(store)
        assert len(store.list_documents(None)) == 4
        assert {d.doc_id for d in store.list_documents(self.ACME)} == {"open", "alice-only"}
        assert store.get_document("hr-only", self.ACME) is None
        assert store.get_document("hr-only", self.HR) is not None
        assert store.get_document("globex", self.HR) is None
