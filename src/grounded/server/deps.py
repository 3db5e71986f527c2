"""What every request needs: the process's services, and the caller behind the token."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from grounded.config import Settings
from grounded.runtime import Runtime
from grounded.server.auth import Authenticator, AuthError, Caller, KeyStore
from grounded.server.limits import Limiter, ModelSlots
from grounded.server.metrics import ServiceMetrics
from grounded.server.problems import Problem, unauthorized
from grounded.server.records import AnswerStore

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="An API key (gk_…) or an OIDC JWT.")


@dataclass
class Services:
    """One per process; routes reach it through `request.app.state.services`."""

    settings: Settings
    runtime: Runtime
    keys: KeyStore
    auth: Authenticator
    limiter: Limiter
    answers: AnswerStore
    metrics: ServiceMetrics
    slots: ModelSlots

    def close(self) -> None:
        self.runtime.close()
        self.keys.close()
        self.limiter.close()
        self.answers.close()


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


async def caller(
    request: Request,
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The authenticated caller, counted against its request rate."""
    header = request.headers.get("authorization")
    try:
        # JWKS fetches and SQLite lookups are blocking I/O.
        who = await asyncio.to_thread(svc.auth.authenticate, header)
    except AuthError as exc:
        log.info("rejected credentials on %s: %s", request.url.path, exc.reason)
        raise unauthorized() from None
    try:
        await asyncio.to_thread(svc.limiter.admit, who)
    except Problem:
        svc.metrics.limit_rejections.labels("rate").inc()
        raise
    return who


CallerDep = Annotated[Caller, Depends(caller)]


async def admin(who: CallerDep) -> Caller:
    if not who.admin:
        raise Problem(403, "forbidden", "this needs an admin key of the tenant")
    return who


AdminDep = Annotated[Caller, Depends(admin)]
