"""Rank fusion of keyword and dense hits.

Two methods, chosen by measurement on SciFact *train* queries (docs/benchmarks.md):
- `rrf`: reciprocal rank fusion, score = Σ wᵢ / (k + rankᵢ). Scale-free and robust.
- `weighted`: each retriever's scores min-max normalised over its candidates,
  then a weighted sum (a document missing from one list gets 0 from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grounded.domain import Hit


@dataclass(frozen=True)
class Fused:
    chunk_id: int
    score: float
    bm25: Hit | None
    dense: Hit | None


def _normalise(hits: Sequence[Hit]) -> dict[int, float]:
    if not hits:
        return {}
    scores = [h.score for h in hits]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {h.chunk_id: (h.score - lo) / span if span > 0 else 1.0 for h in hits}


def fuse(
    bm25: Sequence[Hit],
    dense: Sequence[Hit],
    *,
    method: str = "rrf",
    rrf_k: int = 60,
    bm25_weight: float = 1.0,
    dense_weight: float = 1.0,
) -> list[Fused]:
    by_bm25 = {h.chunk_id: h for h in bm25}
    by_dense = {h.chunk_id: h for h in dense}
    ids = list(dict.fromkeys([*by_bm25, *by_dense]))
    if method == "rrf":
        scores = {
            i: (bm25_weight / (rrf_k + by_bm25[i].rank) if i in by_bm25 else 0.0)
            + (dense_weight / (rrf_k + by_dense[i].rank) if i in by_dense else 0.0)
            for i in ids
        }
    elif method == "weighted":
        nb, nd = _normalise(bm25), _normalise(dense)
        scores = {i: bm25_weight * nb.get(i, 0.0) + dense_weight * nd.get(i, 0.0) for i in ids}
    else:
        raise ValueError(f"unknown fusion method {method!r}; use 'rrf' or 'weighted'")
    fused = [Fused(i, scores[i], by_bm25.get(i), by_dense.get(i)) for i in ids]
    # Ties broken by the better of the two ranks, then chunk id, for stable output.
    fused.sort(key=lambda f: (-f.score, min(_rank(f.bm25), _rank(f.dense)), f.chunk_id))
    return fused


def _rank(hit: Hit | None) -> int:
    return hit.rank if hit is not None else 1 << 30
