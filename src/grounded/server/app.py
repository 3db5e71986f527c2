"""The FastAPI app: services built once per process, routers, problems, metrics, UI.

create_app(settings)          tests (through ASGI) and `grounded serve --workers 1`
grounded.server.app:from_env  the factory each uvicorn worker calls (--workers N)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grounded import __version__
from grounded.config import Settings, load_settings
from grounded.runtime import Runtime
from grounded.server import problems
from grounded.server.auth import SERVICE_DB, Authenticator, JwtVerifier, KeyStore
from grounded.server.deps import Services
from grounded.server.limits import BodyLimit, Limiter, ModelSlots
from grounded.server.metrics import ServiceMetrics
from grounded.server.records import AnswerStore
from grounded.server.routes import ask, documents, evals, health, openai, search

CONFIG_ENV = "GROUNDED_SERVE_CONFIG"  # how `grounded serve` hands --config to its workers
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
]


def build_services(settings: Settings, runtime: Runtime | None = None) -> Services:
    """Everything one process serves with; tests pass a runtime with scripted models."""
    runtime = runtime or Runtime(settings)
    runtime.store  # noqa: B018 - open (or create) the index now, not in the first request
    db = settings.data_dir / SERVICE_DB
    keys = KeyStore(db)
    jwt = JwtVerifier(settings.server.jwt) if settings.server.jwt else None
    return Services(
        settings=settings,
        runtime=runtime,
        keys=keys,
        auth=Authenticator(keys, jwt),
        limiter=Limiter(db),
        answers=AnswerStore(db, settings.server.answers_retention_days),
        metrics=ServiceMetrics(runtime.gateway.metrics),
        slots=ModelSlots(settings.server.max_model_calls, settings.server.model_wait_s),
    )


class _Observe:
    """Latency by route template (never the raw path: ids would explode the labels),
    and the security headers every response carries."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http.labels(route, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the embedding model before the first request, not during it (~0.5 s).
        await asyncio.to_thread(svc.runtime.embedder.embed, ["warm-up"], kind="query")
        yield
        await svc.runtime.gateway.aclose()
        svc.close()

    app = FastAPI(
        title="grounded",
        version=__version__,
        summary="Grounded answers with verified citations over an organisation's documents.",
        description="Every /v1 route needs `Authorization: Bearer <API key or JWT>`. "
        "Errors are RFC 9457 problem+json. See docs/server.md.",
        lifespan=lifespan,
    )
    app.state.services = svc
    problems.install(app)
    for module in (ask, search, documents, openai, evals, health):
        app.include_router(module.router)
    if settings.server.ui:
        from grounded.server.ui import mount_ui

        mount_ui(app)
    app.add_middleware(BodyLimit, max_bytes=int(settings.server.max_body_mb * 1_000_000))
    app.add_middleware(_Observe, metrics=svc.metrics)
    return app


def from_env() -> FastAPI:
    """The app for one uvicorn worker, configured as `grounded serve` was."""
    config = os.environ.get(CONFIG_ENV)
    return create_app(load_settings(Path(config) if config else None))
