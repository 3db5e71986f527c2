"""`ScriptedChatModel`: a chat model that answers from a queue, for tests of our own logic.

    model = ScriptedChatModel(["first answer", ProviderError("m", "boom", kind="server_error"),
                               Delay(2.0, "slow answer")])

Each call takes the next reply: a string (the answer text), a `ChatResponse`, an
exception (raised), a `Delay` (sleep, then its reply), or a callable that receives
the request and returns one of those. `requests` records every request received.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Union

from grounded.domain import Capabilities, ChatRequest, ChatResponse, StreamEvent, Usage
from grounded.errors import ProviderError


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Reply


Reply = Union[str, ChatResponse, BaseException, Delay, Callable[[ChatRequest], "Reply"]]  # noqa: UP007

_WORDS = re.compile(r"\S+\s*")


def word_count(request: ChatRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages)


class ScriptedChatModel:
    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        name: str = "scripted",
        capabilities: Capabilities | None = None,
        default: Reply | None = None,
    ) -> None:
        self.name = name
        self.capabilities = capabilities or Capabilities(
            streaming=True, tools=True, json_schema=True, max_context=8192
        )
        self.default = default
        self.requests: list[ChatRequest] = []
        self._queue: deque[Reply] = deque(replies)
        self.closed = False

    def add(self, *replies: Reply) -> None:
        self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        return len(self._queue)

    async def _next(self, request: ChatRequest) -> ChatResponse:
        missing = self.capabilities.missing(request.needs)
        if missing:
            raise ProviderError(
                self.name, f"does not support {', '.join(missing)}", kind="unsupported"
            )
        self.requests.append(request)
        if self._queue:
            reply: Reply = self._queue.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise RuntimeError(f"ScriptedChatModel {self.name!r} has no reply left for {request}")
        return await self._resolve(reply, request)

    async def _resolve(self, reply: Reply, request: ChatRequest) -> ChatResponse:
        while True:
            if isinstance(reply, Delay):
                await asyncio.sleep(reply.seconds)
                reply = reply.then
            elif isinstance(reply, BaseException):
                raise reply
            elif isinstance(reply, ChatResponse):
                return replace(reply, model=self.name)
            elif isinstance(reply, str):
                usage = Usage(word_count(request), len(reply.split()))
                return ChatResponse(reply, model=self.name, usage=usage, provider_model=self.name)
            else:
                reply = reply(request)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self._next(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        response = await self._next(request)
        for piece in _WORDS.findall(response.text):
            yield StreamEvent(delta=piece)
        yield StreamEvent(response=response)

    async def aclose(self) -> None:
        self.closed = True
