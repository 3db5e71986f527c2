"""An OpenAI-compatible face: `POST /v1/chat/completions` and `GET /v1/models`.

`model` names a grounded app. The last user message is the question (earlier
turns are not used for retrieval: a grounded answer cites documents, not the
conversation). The assistant message is the verified answer with its [S1]
markers; `citations` and `grounded` are extra fields that OpenAI clients keep.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from grounded.errors import GroundedError, InvalidRequest
from grounded.features.ask import MAX_QUESTION_CHARS
from grounded.server import sse
from grounded.server.answering import Answering
from grounded.server.deps import CallerDep, Svc
from grounded.server.problems import Problem, from_error, responses

router = APIRouter(
    prefix="/v1", tags=["openai-compatible"], responses=responses(404, 502, 503, 504)
)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionBody(BaseModel):
    """OpenAI's request; sampling fields are accepted and ignored (the app's prompt sets them)."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(min_length=1, description="the app to answer with (GET /v1/models)")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False

    def question(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user" and message.text().strip():
                text = message.text()
                if len(text) > MAX_QUESTION_CHARS:
                    raise InvalidRequest(
                        f"the last user message has {len(text)} characters; "
                        f"the limit is {MAX_QUESTION_CHARS}"
                    )
                return text
        raise InvalidRequest("no user message with text: the last user message is the question")


def _finish_reason(status: str) -> str:
    return "content_filter" if status == "blocked" else "stop"


def _content(body: dict[str, Any]) -> str:
    return body["answer"] if body["status"] != "blocked" else body["message"]


def _extras(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "citations": body["citations"],
        "grounded": {
            "status": body["status"],
            "answer_id": body["answer_id"],
            "message": body["message"],
        },
    }


def _usage(body: dict[str, Any]) -> dict[str, int]:
    usage = body["usage"]
    prompt, completion = usage["input_tokens"], usage["output_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@router.get("/models", summary="The apps, as OpenAI models")
async def models(who: CallerDep, svc: Svc) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "grounded",
                # extras for grounded's own clients (the web UI's app picker)
                "default": name == svc.settings.server.default_app,
                "description": app.description,
                "answer_mode": app.answer_mode,
            }
            for name, app in sorted(svc.settings.apps.items())
        ],
    }


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat: the grounded answer as the assistant message",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatCompletionBody, request: Request, who: CallerDep, svc: Svc
) -> Any:
    answering = Answering(svc, who, body.question(), body.model)
    await answering.check_budget()
    created = int(time.time())
    if body.stream:
        chunks = _chunks(answering, body.model, created, request.url.path)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=sse.HEADERS)
    answer = await answering.once()
    message = {"role": "assistant", "content": _content(answer)}
    return {
        "id": "chatcmpl-" + answer["answer_id"],
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _finish_reason(answer["status"])}
        ],
        "usage": _usage(answer),
        **_extras(answer),
    }


async def _chunks(
    answering: Answering, model: str, created: int, path: str
) -> AsyncIterator[bytes]:
    stream_id = f"chatcmpl-{int(time.time() * 1000)}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse.data(
            {"id": stream_id, "object": "chat.completion.chunk", "created": created,
             "model": model, "choices": [choice], **extra}
        )  # fmt: skip

    yield chunk({"role": "assistant", "content": ""})
    shown = ""
    try:
        async for piece in answering.stream():
            if isinstance(piece, str):
                text = (" " if shown else "") + piece
                shown += text
                yield chunk({"content": text})
                continue
            final = _content(piece)
            # Streamed sentences are verified one by one; if the answer as a whole was then
            # replaced (extractive fallback, refusal), the final answer follows them.
            rest = final[len(shown) :] if final.startswith(shown) else "\n\n" + final
            if rest:
                yield chunk({"content": rest})
            yield chunk({}, _finish_reason(piece["status"]), usage=_usage(piece), **_extras(piece))
    except (Problem, GroundedError) as exc:
        problem = exc if isinstance(exc, Problem) else from_error(exc)
        yield sse.data({"error": {"message": problem.detail, "type": problem.kind,
                                  "code": problem.status}})  # fmt: skip
    yield sse.data("[DONE]")
