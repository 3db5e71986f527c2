"""Picks a route per request: by task name, estimated prompt size, and needed capabilities.

    router:
      default_route: default
      rules:
        - {tasks: [classify], max_prompt_tokens: 2000, route: small}
        - {needs: [tools], route: default}

Rules are tried in order; a rule matches when every condition it sets holds and
its route can serve the request's needs. No match → the default route.
Prompt size is estimated as characters / 4: routing needs the order of
magnitude, not the exact count, and must cost nothing on the hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from grounded.config import RouterConfig, RouteRule
from grounded.domain import ChatRequest, ChatResponse, StreamEvent
from grounded.llm.fallback import union
from grounded.ports import ChatModel


def estimate_prompt_tokens(request: ChatRequest) -> int:
    chars = sum(len(m.content) for m in request.messages)
    chars += sum(len(s.text) for s in request.sources)
    return chars // 4


def _matches(rule: RouteRule, request: ChatRequest, tokens: int) -> bool:
    if rule.tasks is not None and request.task not in rule.tasks:
        return False
    if rule.max_prompt_tokens is not None and tokens > rule.max_prompt_tokens:
        return False
    if rule.min_prompt_tokens is not None and tokens < rule.min_prompt_tokens:
        return False
    return rule.needs is None or set(rule.needs) <= request.needs


class Router:
    def __init__(self, cfg: RouterConfig, routes: Mapping[str, ChatModel]) -> None:
        self.name = "router"
        self.cfg = cfg
        self.routes = dict(routes)
        self.default = self.routes[cfg.default_route]
        self.capabilities = union([r.capabilities for r in self.routes.values()])

    def choose(self, request: ChatRequest) -> ChatModel:
        tokens = estimate_prompt_tokens(request) if self._needs_size() else 0
        for rule in self.cfg.rules:
            route = self.routes[rule.route]
            if _matches(rule, request, tokens) and route.capabilities.supports(request.needs):
                return route
        return self.default

    def _needs_size(self) -> bool:
        return any(
            r.max_prompt_tokens is not None or r.min_prompt_tokens is not None
            for r in self.cfg.rules
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.choose(request).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async for event in self.choose(request).stream(request):
            yield event

    async def aclose(self) -> None:
        for route in self.routes.values():
            await route.aclose()
