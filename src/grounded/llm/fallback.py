"""A route: try models in order until one answers.

A model that lacks a capability the request needs is skipped. A failure moves
on to the next model only when its kind is in the route's `fall_through` list
(by default every kind except `bad_request` and `deadline`: a malformed request
fails the same everywhere, and an expired deadline leaves no time to try).
When every model fails the error lists each one's reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import replace

from grounded.domain import Attempt, Capabilities, ChatRequest, ChatResponse, StreamEvent
from grounded.errors import AllModelsFailed, ProviderError
from grounded.ports import ChatModel
from grounded.telemetry.metrics import Metrics


def union(capabilities: Sequence[Capabilities]) -> Capabilities:
    """What at least one member can do: the route can serve it by skipping the others."""
    windows = [c.max_context for c in capabilities if c.max_context is not None]
    return Capabilities(
        streaming=any(c.streaming for c in capabilities),
        tools=any(c.tools for c in capabilities),
        json_schema=any(c.json_schema for c in capabilities),
        max_context=max(windows) if windows else None,
    )


class Fallback:
    def __init__(
        self,
        name: str,
        models: Sequence[ChatModel],
        fall_through: Collection[str],
        metrics: Metrics | None = None,
    ) -> None:
        if not models:
            raise ValueError(f"route {name!r} has no models")
        self.name = name
        self.models = list(models)
        self.fall_through = frozenset(fall_through)
        self.metrics = metrics or Metrics()
        self.capabilities = union([m.capabilities for m in self.models])

    def _candidates(self, request: ChatRequest, attempts: list[Attempt]) -> list[ChatModel]:
        out = []
        for model in self.models:
            if model.capabilities.supports(request.needs):
                out.append(model)
            else:
                attempts.append(Attempt(model.name, "skipped", "unsupported"))
        if not out:
            needs = ", ".join(sorted(request.needs))
            exc = ProviderError(
                self.name, f"no model in route {self.name!r} supports {needs}", kind="unsupported"
            )
            exc.attempts = tuple(attempts)
            raise exc
        return out

    def _give_up(self, errors: list[ProviderError], attempts: list[Attempt]) -> ProviderError:
        if len(errors) == 1 and len(self.models) == 1:
            exc = errors[0]
        else:
            reasons = "; ".join(str(e) for e in errors)
            exc = AllModelsFailed(
                self.name, f"every model failed: {reasons}", kind=errors[-1].kind, retryable=False
            )
        exc.attempts = tuple(attempts)
        return exc

    def _next_or_raise(
        self, exc: ProviderError, errors: list[ProviderError], attempts: list[Attempt]
    ) -> None:
        attempts.extend(exc.attempts or (Attempt(exc.model, "error", exc.kind, exc.status),))
        errors.append(exc)
        if exc.kind not in self.fall_through:
            exc.attempts = tuple(attempts)
            raise exc
        self.metrics.inc("llm_fallbacks_total", route=self.name, model=exc.model, kind=exc.kind)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        attempts: list[Attempt] = []
        errors: list[ProviderError] = []
        for model in self._candidates(request, attempts):
            try:
                response = await model.complete(request)
            except ProviderError as exc:
                self._next_or_raise(exc, errors, attempts)
                continue
            return replace(response, attempts=(*attempts, *response.attempts))
        raise self._give_up(errors, attempts)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Falls back only before the first event: text already shown cannot be taken back."""
        attempts: list[Attempt] = []
        errors: list[ProviderError] = []
        for model in self._candidates(request, attempts):
            started = False
            try:
                async for event in model.stream(request):
                    started = True
                    if event.response is not None:
                        merged = (*attempts, *event.response.attempts)
                        event = replace(event, response=replace(event.response, attempts=merged))
                    yield event
                return
            except ProviderError as exc:
                if started:
                    exc.attempts = (*attempts, *exc.attempts)
                    raise
                self._next_or_raise(exc, errors, attempts)
        raise self._give_up(errors, attempts)

    async def aclose(self) -> None:
        for model in self.models:
            await model.aclose()
