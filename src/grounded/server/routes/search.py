"""`POST /v1/search`: hybrid search as the caller's principal."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from grounded.domain import SearchFilters
from grounded.features.ask import MAX_QUESTION_CHARS
from grounded.server.deps import CallerDep, Svc
from grounded.server.problems import responses
from grounded.views import result_json

router = APIRouter(prefix="/v1", tags=["search"], responses=responses())


class SearchBody(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 0 for false
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")
    k: int = Field(default=10, ge=1, le=100)
    collections: list[str] = Field(default_factory=list, description="empty: every collection")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    explain: bool = Field(default=False, description="BM25 and dense ranks, scores, offsets")


@router.post("/search", summary="Hybrid search over the documents the caller may read")
async def search(body: SearchBody, who: CallerDep, svc: Svc) -> dict[str, Any]:
    filters = SearchFilters(collections=tuple(body.collections))
    # Embedding the query and ranking are CPU work: a worker thread, not the event loop.
    response = await asyncio.to_thread(
        svc.runtime.retriever.search,
        body.query,
        who.principal,
        k=body.k,
        filters=filters,
        mode=body.mode,
    )
    return {
        "query": body.query,
        "results": [result_json(r, body.explain) for r in response.results],
        "timings_ms": vars(response.timings),
    }
