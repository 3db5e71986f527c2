"""Retries with backoff, per-attempt deadlines, and the whole call's deadline.

The total deadline travels in a context variable (as gRPC deadlines do), so every
wrapper below `WithDeadline` knows how much time is left: a retry whose wait would
outlast the deadline is not attempted, and each attempt gets at most what remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import replace

from grounded.config import RetryConfig
from grounded.domain import Attempt, ChatRequest, ChatResponse, StreamEvent
from grounded.errors import ProviderError
from grounded.ports import ChatModel

_DEADLINE: ContextVar[float | None] = ContextVar("grounded_llm_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Give every gateway call inside this block at most `seconds` in total.

    For callers with their own budget (an HTTP request's deadline): the gateway's
    `total_timeout_s` still applies, and the earlier of the two wins.
    """
    outer = _DEADLINE.get()
    mine = time.monotonic() + seconds
    token = _DEADLINE.set(mine if outer is None else min(outer, mine))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current call's total deadline (None = no deadline)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class Retrying:
    """Retries retryable failures with exponential backoff and full jitter.

    The wait before retry n is uniform in [0, min(max_delay, base · 2^(n-1))], or
    the server's Retry-After when that is longer. A Retry-After above `max_delay_s`
    (or beyond the deadline) ends the retries at once: waiting a minute for one
    model is worse than falling back to the next. 400/401/403/422 are never retried.
    """

    def __init__(
        self,
        inner: ChatModel,
        cfg: RetryConfig,
        *,
        attempt_timeout_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.cfg = cfg
        self.attempt_timeout_s = attempt_timeout_s
        self._sleep = sleep
        self._rand = rand

    def backoff(self, exc: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to stop retrying."""
        if not exc.retryable or attempt >= self.cfg.max_attempts:
            return None
        cap = min(self.cfg.max_delay_s, self.cfg.base_delay_s * 2 ** (attempt - 1))
        delay = self._rand() * cap
        if exc.retry_after is not None:
            if exc.retry_after > self.cfg.max_delay_s:
                return None
            delay = max(delay, exc.retry_after)
        left = remaining()
        if left is not None and delay >= left:
            return None
        return delay

    def _timeout(self) -> float | None:
        left = remaining()
        if left is None:
            return self.attempt_timeout_s
        if self.attempt_timeout_s is None:
            return max(left, 0.0)
        return max(min(self.attempt_timeout_s, left), 0.0)

    def _timed_out(self, timeout: float | None) -> ProviderError:
        left = remaining()
        if left is not None and left <= 0.001:
            return ProviderError(self.name, "the call's total deadline ran out", kind="deadline")
        exc = ProviderError(self.name, f"no answer within {timeout:g} s", kind="timeout")
        exc.attempts = (Attempt(self.name, "error", "timeout", latency_ms=(timeout or 0) * 1000),)
        return exc

    async def _once(self, request: ChatRequest) -> ChatResponse:
        timeout = self._timeout()
        try:
            async with asyncio.timeout(timeout):
                return await self.inner.complete(request)
        except TimeoutError:
            raise self._timed_out(timeout) from None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        attempts: list[Attempt] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._once(request)
            except ProviderError as exc:
                attempts.extend(exc.attempts)
                delay = self.backoff(exc, attempt)
                if delay is None:
                    exc.attempts = tuple(attempts)
                    raise
                await self._sleep(delay)
                continue
            return replace(response, attempts=(*attempts, *response.attempts))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Retries only until the first event: text already shown cannot be taken back."""
        attempts: list[Attempt] = []
        attempt = 0
        while True:
            attempt += 1
            started = False
            try:
                async for event in self._stream_once(request):
                    started = True
                    if event.response is not None:
                        all_attempts = (*attempts, *event.response.attempts)
                        event = replace(
                            event, response=replace(event.response, attempts=all_attempts)
                        )
                    yield event
                return
            except ProviderError as exc:
                attempts.extend(exc.attempts)
                delay = None if started else self.backoff(exc, attempt)
                if delay is None:
                    exc.attempts = tuple(attempts)
                    raise
                await self._sleep(delay)

    async def _stream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The attempt timeout bounds each wait for the next event (an idle timeout)."""
        events = aiter(self.inner.stream(request))
        try:
            while True:
                timeout = self._timeout()
                try:
                    async with asyncio.timeout(timeout):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise self._timed_out(timeout) from None
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self.inner.aclose()


class WithDeadline:
    """The outermost wrapper: the whole call, retries and fallbacks included, ends in time.

    It also stamps the end-to-end `latency_ms` on the response.
    """

    def __init__(self, inner: ChatModel, total_timeout_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.total_timeout_s = total_timeout_s

    def _enter(self) -> tuple[float, Token[float | None]]:
        deadline = time.monotonic() + self.total_timeout_s
        outer = _DEADLINE.get()
        if outer is not None:
            deadline = min(deadline, outer)
        return deadline, _DEADLINE.set(deadline)

    def _expired(self) -> ProviderError:
        return ProviderError(
            self.name,
            f"no answer within the total deadline of {self.total_timeout_s:g} s "
            "(gateway.total_timeout_s)",
            kind="deadline",
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        deadline, token = self._enter()
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                response = await self.inner.complete(request)
        except TimeoutError:
            raise self._expired() from None
        finally:
            _DEADLINE.reset(token)
        return replace(response, latency_ms=(time.perf_counter() - start) * 1000)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        start = time.perf_counter()
        deadline, token = self._enter()  # the earlier of ours and the caller's
        _DEADLINE.reset(token)  # set again around each step: this generator may be suspended
        events = aiter(self.inner.stream(request))
        try:
            while True:
                token = _DEADLINE.set(deadline)
                try:
                    async with asyncio.timeout_at(_loop_time(deadline)):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise self._expired() from None
                finally:
                    _DEADLINE.reset(token)
                if event.response is not None:
                    latency = (time.perf_counter() - start) * 1000
                    event = replace(event, response=replace(event.response, latency_ms=latency))
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self.inner.aclose()


def _loop_time(monotonic_deadline: float) -> float:
    """A time.monotonic() deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
