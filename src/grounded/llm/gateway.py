"""Config → the composed stack. The one entry point callers use.

For each configured model (shared by every route that names it):

    Retrying(CircuitBreaker(Limited(Metered(provider))))

For each route (and for each model name used directly as a one-model route):

    WithDeadline(Cached(Fallback([model stacks...])))

and a `Router` over the routes picks one per request when no name is given.
Providers register by name in `PROVIDERS`; config selects them with `provider:`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from grounded.config import ModelConfig, RouteConfig, Settings
from grounded.domain import ChatRequest, ChatResponse, StreamEvent
from grounded.errors import ConfigError
from grounded.llm.cache import Cached, ResponseCache
from grounded.llm.circuit import CircuitBreaker
from grounded.llm.fallback import Fallback
from grounded.llm.meter import Limited, Metered
from grounded.llm.retry import Retrying, WithDeadline
from grounded.llm.router import Router
from grounded.llm.structured import Schema, complete_structured
from grounded.ports import ChatModel
from grounded.telemetry.metrics import Metrics

LLM_CACHE = "cache/llm.sqlite"


def _openai_compatible(name: str, cfg: Any) -> ChatModel:
    from grounded.llm.openai_compat import OpenAICompatibleModel

    return OpenAICompatibleModel(name, cfg)


def _anthropic(name: str, cfg: Any) -> ChatModel:
    from grounded.llm.anthropic import AnthropicModel

    return AnthropicModel(name, cfg)


def _llamacpp(name: str, cfg: Any) -> ChatModel:
    from grounded.llm.llamacpp import LlamaCppModel

    return LlamaCppModel(name, cfg)


def _extractive(name: str, cfg: Any) -> ChatModel:
    from grounded.llm.extractive import ExtractiveModel

    return ExtractiveModel(name, cfg)


PROVIDERS: dict[str, Callable[[str, Any], ChatModel]] = {
    "openai_compatible": _openai_compatible,
    "anthropic": _anthropic,
    "llamacpp": _llamacpp,
    "extractive": _extractive,
}


def model_fingerprint(cfg: ModelConfig) -> str:
    """What identifies a model's answers in cache keys: everything but its secrets' values."""
    data = cfg.model_dump(mode="json", exclude={"retry", "circuit", "max_concurrency", "timeout_s"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class Gateway:
    """Every configured model and route, composed with the resilience wrappers.

    `providers` replaces the adapters by name (tests pass ScriptedChatModels);
    the wrappers around them are built from config exactly as in production.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        cache_path: Path | None = None,
        providers: dict[str, ChatModel] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._given = providers or {}
        self._cache_path = cache_path or settings.data_dir / LLM_CACHE
        self._cache: ResponseCache | None = None
        self.providers: dict[str, ChatModel] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        self._stacks: dict[str, ChatModel] = {}
        self._routes: dict[str, ChatModel] = {}
        self._router: Router | None = None

    # -------------------------------------------------------------- building

    def provider(self, name: str) -> ChatModel:
        """The bare adapter for a configured model (built on first use)."""
        if name not in self.providers:
            cfg = self._model_config(name)
            given = self._given.get(name)
            self.providers[name] = given or PROVIDERS[cfg.provider](name, cfg)
        return self.providers[name]

    def _model_config(self, name: str) -> ModelConfig:
        try:
            return self.settings.models[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.models))
            raise ConfigError(f"unknown model {name!r}; configured models: {known}") from None

    def stack(self, name: str) -> ChatModel:
        """A model with retry, circuit breaker, concurrency limit and metering."""
        if name not in self._stacks:
            cfg = self._model_config(name)
            metered = Metered(self.provider(name), cfg.price, self.metrics)
            limited = Limited(metered, cfg.max_concurrency)
            breaker = CircuitBreaker(limited, cfg.circuit, self.metrics)
            self.breakers[name] = breaker
            self._stacks[name] = Retrying(breaker, cfg.retry, attempt_timeout_s=cfg.timeout_s)
        return self._stacks[name]

    def _route_config(self, name: str) -> RouteConfig:
        if name in self.settings.routes:
            return self.settings.routes[name]
        if name in self.settings.models:
            return RouteConfig(models=[name])
        raise ConfigError(
            f"unknown model or route {name!r}; routes: {', '.join(sorted(self.settings.routes))}; "
            f"models: {', '.join(sorted(self.settings.models))}"
        )

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(self._cache_path)
        return self._cache

    def route(self, name: str) -> ChatModel:
        """A route (or a model used as a one-model route): fallback, cache and deadline."""
        if name not in self._routes:
            cfg = self._route_config(name)
            chain: ChatModel = Fallback(
                name, [self.stack(m) for m in cfg.models], cfg.fall_through, self.metrics
            )
            gateway = self.settings.gateway
            if gateway.cache.enabled:
                identity = json.dumps(
                    [name, [(m, model_fingerprint(self.settings.models[m])) for m in cfg.models]]
                )
                chain = Cached(
                    chain,
                    self.cache,
                    ttl_s=gateway.cache.ttl_s,
                    identity=identity,
                    metrics=self.metrics,
                )
            self._routes[name] = WithDeadline(chain, gateway.total_timeout_s)
        return self._routes[name]

    @property
    def router(self) -> Router:
        if self._router is None:
            cfg = self.settings.router
            names = {cfg.default_route, *(r.route for r in cfg.rules)}
            self._router = Router(cfg, {n: self.route(n) for n in names})
        return self._router

    def model(self, name: str | None = None) -> ChatModel:
        """A route or model by name; None lets the router choose per request."""
        return self.route(name) if name else self.router

    # -------------------------------------------------------------- calling

    async def complete(self, request: ChatRequest, model: str | None = None) -> ChatResponse:
        return await self.model(model).complete(request)

    async def stream(
        self, request: ChatRequest, model: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        async for event in self.model(model).stream(request):
            yield event

    async def structured(
        self, request: ChatRequest, schema: Schema, model: str | None = None
    ) -> ChatResponse:
        return await complete_structured(self.model(model), request, schema)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
