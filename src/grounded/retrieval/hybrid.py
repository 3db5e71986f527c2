"""Permission-aware hybrid search: BM25 + dense, fused, optionally reranked.

The principal is passed into every store call; the store filters by tenant
and ACL inside its queries, before ranking (see index/sqlite.py). Nothing
here sees a chunk the principal cannot read, so nothing here can leak one in
results, scores, counts or explanations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from grounded.config import RetrievalConfig
from grounded.domain import Principal, SearchFilters, SearchResult
from grounded.errors import EmbeddingModelMismatch, InvalidRequest
from grounded.index.sqlite import SqliteStore
from grounded.ports import Embedder, Reranker
from grounded.retrieval.fusion import Fused, fuse

Mode = str  # "hybrid" | "bm25" | "dense"
MODES = ("hybrid", "bm25", "dense")


@dataclass
class SearchTimings:
    bm25_ms: float = 0.0
    embed_ms: float = 0.0
    dense_ms: float = 0.0
    rerank_ms: float = 0.0
    total_ms: float = 0.0


@dataclass
class SearchResponse:
    results: list[SearchResult]
    timings: SearchTimings = field(default_factory=SearchTimings)


class HybridRetriever:
    def __init__(
        self,
        store: SqliteStore,
        embedder: Callable[[], Embedder],
        config: RetrievalConfig,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self.config = config
        self.reranker = reranker

    def _query_embedder(self) -> Embedder:
        if self._embedder is None:
            embedder = self._embedder_factory()
            bound = self.store.embedding_model()
            if bound is not None and bound[:2] != (embedder.model_id, embedder.revision):
                raise EmbeddingModelMismatch(
                    f"{bound[0]}@{bound[1]}", f"{embedder.model_id}@{embedder.revision}"
                )
            self._embedder = embedder
        return self._embedder

    def search(
        self,
        query: str,
        principal: Principal,
        *,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: Mode = "hybrid",
    ) -> SearchResponse:
        if not query.strip():
            raise InvalidRequest("the query is empty; pass some words to search for")
        if k < 1:
            raise InvalidRequest(f"k={k} must be at least 1")
        if mode not in MODES:
            raise InvalidRequest(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        filters = filters or SearchFilters()
        timings = SearchTimings()
        started = time.perf_counter()
        depth = max(self.config.candidates, k)
        bm25, dense = [], []
        if mode in ("hybrid", "bm25"):
            t = time.perf_counter()
            bm25 = self.store.keyword_search(query, principal, filters, depth)
            timings.bm25_ms = _ms(t)
        if mode in ("hybrid", "dense") and self.store.embedding_model() is not None:
            t = time.perf_counter()
            vector = self._query_embedder().embed([query], kind="query")[0]
            timings.embed_ms = _ms(t)
            t = time.perf_counter()
            dense = self.store.vector_search(vector, principal, filters, depth)
            timings.dense_ms = _ms(t)
        cfg = self.config
        fused = fuse(
            bm25, dense, method=cfg.fusion, rrf_k=cfg.rrf_k,
            bm25_weight=cfg.bm25_weight, dense_weight=cfg.dense_weight,
        )  # fmt: skip
        results = self._materialise(fused[: max(k, self._rerank_depth())], principal)
        results = self._rerank(query, results, timings)
        if cfg.min_relevance is not None:
            results = [r for r in results if r.score >= cfg.min_relevance]
        results = [replace(r, rank=i) for i, r in enumerate(results[:k], start=1)]
        timings.total_ms = _ms(started)
        return SearchResponse(results, timings)

    def best_per_document(
        self,
        query: str,
        principal: Principal,
        *,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: Mode = "hybrid",
    ) -> list[tuple[str, float]]:
        """Up to k (doc id, score) pairs, each document scored by its best chunk, best first.

        This is what TREC runs and document-level metrics rank. Several chunks may
        belong to one document, so three times k chunks are retrieved.
        """
        results = self.search(query, principal, k=k * 3, filters=filters, mode=mode).results
        best: dict[str, float] = {}
        for r in results:
            best.setdefault(r.document.doc_id, r.score)
        return list(best.items())[:k]

    def _rerank_depth(self) -> int:
        cfg = self.config.reranker
        return cfg.top_n if self.reranker is not None and cfg.kind == "cross_encoder" else 0

    def _materialise(self, fused: list[Fused], principal: Principal) -> list[SearchResult]:
        found = self.store.fetch([f.chunk_id for f in fused], principal)
        out = []
        for f in fused:
            if f.chunk_id not in found:
                continue  # defence in depth: fetch re-applies the ACL
            chunk, document = found[f.chunk_id]
            out.append(
                SearchResult(
                    chunk=chunk,
                    document=document,
                    score=f.score,
                    rank=0,
                    bm25_rank=f.bm25.rank if f.bm25 else None,
                    bm25_score=f.bm25.score if f.bm25 else None,
                    dense_rank=f.dense.rank if f.dense else None,
                    dense_score=f.dense.score if f.dense else None,
                )  # fmt: skip
            )
        return out

    def _rerank(
        self, query: str, results: list[SearchResult], timings: SearchTimings
    ) -> list[SearchResult]:
        if self.reranker is None or not results:
            return results
        t = time.perf_counter()
        scores = self.reranker.score(query, [r.chunk.text for r in results])
        timings.rerank_ms = _ms(t)
        reranked = [
            replace(r, score=s, rerank_score=s) for r, s in zip(results, scores, strict=True)
        ]
        reranked.sort(key=lambda r: -r.score)
        return reranked


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
