"""Per-model accounting and limits: the wrappers closest to a provider.

`Metered` times each call, fills usage (the provider's numbers, or a tokenizer
estimate marked `estimated`), prices it from the model's price table, records an
`Attempt`, and counts it. `Limited` bounds the calls in flight to one model so a
slow provider cannot take every worker with it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING

from grounded.config import PriceConfig
from grounded.domain import Attempt, ChatRequest, ChatResponse, StreamEvent, Usage
from grounded.errors import ModelUnavailable, ProviderError
from grounded.ports import ChatModel
from grounded.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer

    from grounded.embed.onnx import ASSETS

    tok = Tokenizer.from_file(str(ASSETS / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def estimate_tokens(text: str) -> int:
    """Token count by the bundled WordPiece tokenizer: close to, not equal to, an LLM's."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)


def estimate_usage(request: ChatRequest, response: ChatResponse) -> Usage:
    prompt = "\n".join(m.content for m in request.messages)
    prompt += "".join(s.text for s in request.sources)
    answer = response.text + "".join(c.arguments for c in response.tool_calls)
    return Usage(estimate_tokens(prompt), estimate_tokens(answer), estimated=True)


def cost_of(usage: Usage, price: PriceConfig | None) -> float | None:
    if price is None:
        return None
    return (
        usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    ) / 1_000_000


class Metered:
    def __init__(
        self,
        inner: ChatModel,
        price: PriceConfig | None,
        metrics: Metrics,
        *,
        estimate: Callable[[ChatRequest, ChatResponse], Usage] = estimate_usage,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.price = price
        self.metrics = metrics
        self._estimate = estimate

    def _finish(self, request: ChatRequest, response: ChatResponse, start: float) -> ChatResponse:
        latency = (time.perf_counter() - start) * 1000
        usage = response.usage or self._estimate(request, response)
        cost = cost_of(usage, self.price)
        m, name = self.metrics, self.name
        m.inc("llm_calls_total", model=name, outcome="ok")
        m.inc("llm_tokens_total", usage.input_tokens, model=name, direction="input")
        m.inc("llm_tokens_total", usage.output_tokens, model=name, direction="output")
        if cost:
            m.inc("llm_cost_usd_total", cost, model=name)
        return replace(
            response,
            model=name,
            usage=usage,
            cost_usd=cost,
            latency_ms=latency,
            attempts=response.attempts or (Attempt(name, "ok", latency_ms=latency),),
        )

    def _failed(self, exc: ProviderError, start: float) -> ProviderError:
        latency = (time.perf_counter() - start) * 1000
        self.metrics.inc("llm_calls_total", model=self.name, outcome="error")
        self.metrics.inc("llm_errors_total", model=self.name, kind=exc.kind)
        if not exc.attempts:
            exc.attempts = (Attempt(self.name, "error", exc.kind, exc.status, latency),)
        return exc

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        try:
            response = await self.inner.complete(request)
        except ModelUnavailable as exc:
            raise self._failed(_unavailable(self.name, exc), start) from exc
        except ProviderError as exc:
            self._failed(exc, start)
            raise
        return self._finish(request, response, start)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        start = time.perf_counter()
        first = True
        try:
            async for event in self.inner.stream(request):
                if first:
                    ttft = (time.perf_counter() - start) * 1000
                    self.metrics.inc("llm_ttft_ms_sum", ttft, model=self.name)
                    self.metrics.inc("llm_streams_total", model=self.name)
                    first = False
                if event.response is not None:
                    event = replace(event, response=self._finish(request, event.response, start))
                yield event
        except ModelUnavailable as exc:
            raise self._failed(_unavailable(self.name, exc), start) from exc
        except ProviderError as exc:
            self._failed(exc, start)
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


def _unavailable(name: str, exc: ModelUnavailable) -> ProviderError:
    """A model whose package is missing is one more failed model to a route, not a crash."""
    message = str(exc).removeprefix(f"{name}: ")
    return ProviderError(name, message, kind="unavailable")


class Limited:
    """At most `limit` calls in flight to the inner model; the rest wait their turn."""

    def __init__(self, inner: ChatModel, limit: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.limit = limit
        # asyncio primitives belong to one event loop; the CLI and tests run several.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def complete(self, request: ChatRequest) -> ChatResponse:
        async with self._semaphore():
            return await self.inner.complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with self._semaphore():
            async for event in self.inner.stream(request):
                yield event

    async def aclose(self) -> None:
        await self.inner.aclose()
