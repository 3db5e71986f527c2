"""What `grounded ask` returns, and its JSON form (the CLI's --json and, later, the API's body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grounded.domain import (
    AnswerStatus,
    Citation,
    SearchResult,
    SentenceCheck,
    Stage,
    Usage,
    Verdict,
)

# One sentence for every "no": nothing relevant, nothing verifiable, or nothing the
# principal may read. It must not vary with *why*, or it would tell a user that a
# document they cannot access exists.
REFUSAL = "Not found in the sources you can access."


@dataclass(frozen=True)
class GuardRecord:
    """A guard verdict at one stage; `source` names the retrieved chunk it judged."""

    stage: Stage
    verdict: Verdict
    source: str | None = None


@dataclass(frozen=True)
class AskResult:
    status: AnswerStatus
    answer: str
    app: str
    citations: tuple[Citation, ...] = ()
    verification: tuple[SentenceCheck, ...] = ()
    guards: tuple[GuardRecord, ...] = ()
    prompt: tuple[str, int, str] | None = None  # name, version, sha256
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    message: str = ""  # why blocked, or why the extractive answer replaced the model's
    invalid_citations: int = 0
    dropped: tuple[tuple[str, str], ...] = ()  # (chunk id, reason) left out of the context
    retrieval: dict[str, Any] = field(default_factory=dict)
    policy_version: str = ""
    retrieved: tuple[SearchResult, ...] = ()  # what retrieval returned (answers only)


@dataclass(frozen=True)
class AskEvent:
    """A streamed piece: a verified sentence (`text`), or the final `result`."""

    text: str
    result: AskResult | None = None


def blocked_message(verdict: Verdict, what: str) -> str:
    reasons = [r for r in verdict.reasons if r.action == "block"]
    shown = "; ".join(f"{r.guard}/{r.rule}: {r.message}" for r in reasons[:3])
    return f"the {what} was blocked by the guard policy ({shown})"


def ask_json(r: AskResult) -> dict[str, Any]:
    """The documented `grounded ask --json` object (docs/answers.md)."""
    return {
        "status": r.status,
        "answer": r.answer,
        "message": r.message,
        "citations": [_citation(c) for c in r.citations],
        "verification": [
            {
                "sentence": v.sentence,
                "supported": v.supported,
                "factual": v.factual,
                "citations": list(v.citations),
                "supported_by": v.supported_by,
                "reason": v.reason,
                "lexical": v.lexical,
                "semantic": None if v.semantic is None else round(v.semantic, 4),
            }
            for v in r.verification
        ],
        "invalid_citations": r.invalid_citations,
        "guards": [_guard(g) for g in r.guards],
        "app": r.app,
        "prompt": {"name": r.prompt[0], "version": r.prompt[1], "sha256": r.prompt[2]}
        if r.prompt
        else None,
        "model": r.model,
        "usage": {
            "input_tokens": r.usage.input_tokens,
            "output_tokens": r.usage.output_tokens,
            "estimated": r.usage.estimated,
        },
        "cost_usd": r.cost_usd,
        "latency_ms": round(r.latency_ms, 2),
        "stages": {k: round(v, 2) for k, v in r.stages.items()},
        "retrieval": r.retrieval,
        "policy_version": r.policy_version,
        "dropped": [{"chunk_id": c, "reason": why} for c, why in r.dropped],
        "retrieved": [_retrieved(x) for x in r.retrieved],
    }


def _retrieved(r: SearchResult) -> dict[str, Any]:
    return {
        "chunk_id": r.chunk.chunk_id,
        "doc_id": r.document.doc_id,
        "collection": r.document.collection,
        "title": r.document.title,
        "heading": r.chunk.heading,
        "score": round(r.score, 6),
        "bm25_rank": r.bm25_rank,
        "bm25_score": r.bm25_score,
        "dense_rank": r.dense_rank,
        "dense_score": r.dense_score,
        "rerank_score": r.rerank_score,
    }


def _citation(c: Citation) -> dict[str, Any]:
    doc = c.source.document
    return {
        "marker": c.marker,
        "doc_id": doc.doc_id,
        "collection": doc.collection,
        "title": doc.title,
        "heading_path": list(c.source.heading_path),
        "page": c.source.page,
        "char_start": c.start,
        "char_end": c.end,
        "quote": c.quote,
        "source_uri": doc.source_uri,
    }


def _guard(g: GuardRecord) -> dict[str, Any]:
    return {
        "stage": g.stage,
        "source": g.source,
        "action": g.verdict.action,
        "reasons": [
            {"guard": r.guard, "rule": r.rule, "score": r.score, "action": r.action,
             "message": r.message}
            for r in g.verdict.reasons
        ],
    }  # fmt: skip
