"""A circuit breaker per model: stop calling a model that keeps failing, probe it later.

    closed ──(N server-side failures within window_s)──▶ open
    open ──(open_s elapsed)──▶ half_open: one probe call goes through, others are refused
    half_open ──probe succeeds──▶ closed      half_open ──probe fails──▶ open

Only failures that say the model is unhealthy count (5xx, timeouts, connection
errors, unparseable responses). A 429 carries its own Retry-After; 4xx are the
caller's. A refused call raises ProviderError(kind="circuit_open"), which the
fallback chain passes over to the next model without waiting.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from enum import StrEnum

from grounded.config import CircuitConfig
from grounded.domain import Attempt, ChatRequest, ChatResponse, StreamEvent
from grounded.errors import ProviderError
from grounded.ports import ChatModel
from grounded.telemetry.metrics import Metrics

UNHEALTHY = frozenset({"server_error", "timeout", "connection", "invalid_response"})


class CircuitState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE = {CircuitState.CLOSED: 0.0, CircuitState.HALF_OPEN: 1.0, CircuitState.OPEN: 2.0}


class CircuitBreaker:
    def __init__(
        self,
        inner: ChatModel,
        cfg: CircuitConfig,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False
        self.metrics.set("llm_circuit_state", 0.0, model=self.name)

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.cfg.open_s:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def _admit(self) -> None:
        state = self.state
        if state is CircuitState.CLOSED:
            return
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        wait = max(0.0, self.cfg.open_s - (self._clock() - (self._opened_at or 0.0)))
        exc = ProviderError(
            self.name,
            f"circuit open after {self.cfg.failures} failures in {self.cfg.window_s:g} s; "
            f"next probe in {wait:.1f} s",
            kind="circuit_open",
        )
        exc.attempts = (Attempt(self.name, "skipped", "circuit_open"),)
        raise exc

    def _record(self, exc: ProviderError | None) -> None:
        was_probe, self._probing = self._probing, False
        if exc is None:
            if was_probe:
                self._opened_at = None
                self._failures.clear()
        elif exc.kind in UNHEALTHY:
            now = self._clock()
            if was_probe:
                self._opened_at = now
            else:
                self._failures.append(now)
                while self._failures and now - self._failures[0] > self.cfg.window_s:
                    self._failures.popleft()
                if len(self._failures) >= self.cfg.failures:
                    self._opened_at = now
        self.metrics.set("llm_circuit_state", _GAUGE[self.state], model=self.name)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._admit()
        try:
            response = await self.inner.complete(request)
        except ProviderError as exc:
            self._record(exc)
            raise
        except BaseException:
            self._probing = False  # cancelled: neither healthy nor not; let another probe go
            raise
        self._record(None)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self._admit()
        try:
            async for event in self.inner.stream(request):
                yield event
        except ProviderError as exc:
            self._record(exc)
            raise
        except BaseException:
            self._probing = False
            raise
        self._record(None)

    async def aclose(self) -> None:
        await self.inner.aclose()
