"""`POST /v1/ask` (JSON or SSE), `GET /v1/answers/{id}`, `POST /v1/feedback`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from grounded.errors import GroundedError
from grounded.features.ask import MAX_QUESTION_CHARS
from grounded.server import sse
from grounded.server.answering import Answering
from grounded.server.deps import CallerDep, Svc
from grounded.server.problems import Problem, from_error, not_found, responses

router = APIRouter(prefix="/v1", tags=["answers"], responses=responses(403, 404, 502, 503, 504))


class AskBody(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 0 for false
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")
    app: str | None = Field(
        default=None, description="an app of grounded.yaml; default: the server's"
    )


class FeedbackBody(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 0 for false
    answer_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)


@router.post(
    "/ask",
    summary="A grounded answer with verified citations, or a refusal",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask(
    body: AskBody, request: Request, who: CallerDep, svc: Svc, stream: bool = False
) -> Any:
    answering = Answering(svc, who, body.question, body.app)
    await answering.check_budget()
    if not stream:
        return await answering.once()
    return StreamingResponse(
        _events(answering, request.url.path), media_type="text/event-stream", headers=sse.HEADERS
    )


async def _events(answering: Answering, path: str) -> AsyncIterator[bytes]:
    try:
        async for piece in answering.stream():
            if isinstance(piece, str):
                yield sse.event("token", {"text": piece})
                continue
            yield sse.event("citations", piece["citations"])
            yield sse.event("verification", piece["verification"])
            yield sse.event("guards", piece["guards"])
            yield sse.event("final", piece)
    except Problem as exc:
        yield sse.event("error", exc.body(path))
    except GroundedError as exc:
        yield sse.event("error", from_error(exc).body(path))


@router.get("/answers/{answer_id}", summary="A stored answer: stages, retrieval, verdicts")
async def get_answer(answer_id: str, who: CallerDep, svc: Svc) -> dict[str, Any]:
    found = await asyncio.to_thread(svc.answers.get, answer_id, who)
    if found is None:
        raise not_found("answer")
    return found


@router.post("/feedback", status_code=201, summary="Thumbs up or down, and a comment")
async def feedback(body: FeedbackBody, who: CallerDep, svc: Svc) -> dict[str, Any]:
    if await asyncio.to_thread(svc.answers.get, body.answer_id, who) is None:
        raise not_found("answer")
    feedback_id = await asyncio.to_thread(
        svc.answers.add_feedback, body.answer_id, who, body.rating, body.comment
    )
    return {"id": feedback_id, "answer_id": body.answer_id, "rating": body.rating}
