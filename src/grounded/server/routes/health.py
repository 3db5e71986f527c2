"""`/healthz` (the process runs), `/readyz` (it can answer), `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from grounded.server.deps import Services, Svc, caller
from grounded.server.metrics import CONTENT_TYPE
from grounded.server.problems import responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _checks(svc: Services) -> dict[str, str]:
    """Each dependency of the default app: 'ok' or what is wrong (no secrets, no paths)."""
    checks: dict[str, str] = {}
    try:
        svc.runtime.store.stats()
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["store"] = f"failed: {type(exc).__name__}"
    try:
        svc.runtime.embedder.embed(["ready"], kind="query")
        checks["embedder"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["embedder"] = f"failed: {type(exc).__name__}"
    app = svc.settings.apps[svc.settings.server.default_app]
    if app.answer_mode == "generative":
        gateway = svc.runtime.gateway
        route = svc.settings.routes.get(app.route)
        names = route.models if route else [app.route]
        for name in names:
            gateway.stack(name)  # builds the breaker
            state = gateway.breakers[name].state
            checks[f"model:{name}"] = "ok" if state != "open" else "circuit open"
        # A route is usable while any of its models is.
        if all(checks[f"model:{n}"] != "ok" for n in names):
            checks["route"] = f"every model of route {app.route!r} is failing"
    return checks


@router.get(
    "/readyz",
    summary="Readiness: the store opens and the default app can answer",
    responses={503: {"description": "not ready: `checks` says what failed"}},
)
async def readyz(svc: Svc) -> JSONResponse:
    checks = await asyncio.to_thread(_checks, svc)
    failing = {k: v for k, v in checks.items() if v != "ok" and not k.startswith("model:")}
    status = 503 if failing else 200
    return JSONResponse(
        {"status": "ready" if status == 200 else "not ready", "checks": checks}, status
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {}}}, **responses(401)},
)
async def metrics(request: Request, svc: Svc) -> Response:
    if not svc.settings.server.metrics_public:
        await caller(request, svc, None)
    return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE)
