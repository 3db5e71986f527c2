"""The JSON forms of documents and search results, shared by the CLI's --json and the API."""

from __future__ import annotations

from typing import Any

from grounded.domain import Document, SearchResult


def doc_json(doc: Document) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "collection": doc.collection,
        "title": doc.title,
        "source_uri": doc.source_uri,
        "content_hash": doc.content_hash,
        "tenant": doc.acl.tenant,
        "allow_users": list(doc.acl.allow_users),
        "allow_groups": list(doc.acl.allow_groups),
        "metadata": dict(doc.metadata),
    }


def result_json(r: SearchResult, explain: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rank": r.rank,
        "score": round(r.score, 6),
        "doc_id": r.document.doc_id,
        "collection": r.document.collection,
        "title": r.document.title,
        "heading": r.chunk.heading,
        "page": r.chunk.page,
        "chunk_id": r.chunk.chunk_id,
        "text": r.chunk.text,
        "source_uri": r.document.source_uri,
    }
    if explain:
        out["explain"] = {
            "bm25_rank": r.bm25_rank,
            "bm25_score": r.bm25_score,
            "dense_rank": r.dense_rank,
            "dense_score": r.dense_score,
            "fused_score": r.score,
            "rerank_score": r.rerank_score,
            "char_start": r.chunk.start,
            "char_end": r.chunk.end,
        }
    return out
