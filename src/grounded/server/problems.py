"""RFC 9457 problem details: every error the API answers, with a stable `type`.

Handlers map our exceptions to problems at the edge. An unexpected exception
is logged with its traceback here and answered with a bare `internal` problem:
no stack trace, secret or another tenant's data ever reaches a caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from grounded.errors import (
    AccessDenied,
    ConfigError,
    GroundedError,
    ModelUnavailable,
    ProviderError,
    UserError,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:grounded:problem:"

TITLES = {
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed",
    "not-found": "Not found",
    "invalid-request": "Invalid request",
    "payload-too-large": "Request body too large",
    "rate-limited": "Too many requests",
    "token-budget-exhausted": "Token budget exhausted",
    "timeout": "Request timed out",
    "overloaded": "Server busy",
    "model-failed": "Model call failed",
    "method-not-allowed": "Method not allowed",
    "unsupported-media-type": "Unsupported media type",
    "internal": "Internal error",
}


class ProblemBody(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = Field(examples=[TYPE_PREFIX + "rate-limited"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, str]] | None = Field(
        default=None, description="validation failures: field and message"
    )


_DESCRIPTIONS = {
    400: "the body cannot be parsed",
    401: "missing or invalid credentials",
    403: "the caller's role does not allow this",
    404: "no such thing, or not the caller's to see",
    413: "the body is over the size limit",
    422: "the request is malformed; `detail` says what to fix",
    429: "a rate or token limit is spent; see Retry-After",
    500: "a server fault (logged on the server)",
    502: "the model call failed",
    503: "every model slot is busy; see Retry-After",
    504: "the request ran past its deadline",
}
# Every /v1 route; routes add what else they may answer.
COMMON = (400, 401, 413, 422, 429, 500)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses: `APIRouter(responses=responses(...))`."""
    schema = ProblemBody.model_json_schema()
    return {
        s: {"description": _DESCRIPTIONS[s], "content": {MEDIA_TYPE: {"schema": schema}}}
        for s in sorted({*COMMON, *statuses})
    }


class Problem(Exception):
    """Raise anywhere in a request to answer with this problem."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        assert kind in TITLES, kind
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        self.extra = extra or {}

    def body(self, instance: str) -> dict[str, Any]:
        return {
            "type": TYPE_PREFIX + self.kind,
            "title": TITLES[self.kind],
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extra,
        }

    def response(self, instance: str) -> JSONResponse:
        return JSONResponse(
            self.body(instance), self.status, headers=self.headers, media_type=MEDIA_TYPE
        )


def not_found(what: str = "document") -> Problem:
    """The one answer for 'does not exist' and 'exists but is not yours'."""
    return Problem(404, "not-found", f"no such {what}")


def unauthorized() -> Problem:
    return Problem(
        401,
        "unauthorized",
        "send `Authorization: Bearer <key>` with a valid API key or token",
        headers={"WWW-Authenticate": 'Bearer realm="grounded"'},
    )


def from_error(exc: GroundedError) -> Problem:
    """Our exception tree → a problem. Messages of user errors are meant for the caller."""
    if isinstance(exc, AccessDenied):
        return Problem(403, "forbidden", str(exc))
    if isinstance(exc, ConfigError):
        log.error("configuration problem during a request: %s", exc)
        return Problem(500, "internal", "the server is misconfigured; see its log")
    if isinstance(exc, UserError):
        return Problem(422, "invalid-request", str(exc))
    if isinstance(exc, ProviderError):
        # kind and status only: a provider's message can echo the prompt.
        if exc.kind == "deadline":
            return Problem(504, "timeout", "the model did not answer in time")
        return Problem(502, "model-failed", f"the model call failed ({exc.kind})")
    if isinstance(exc, ModelUnavailable):
        return Problem(503, "model-failed", "the configured model is not available")
    log.error("request failed: %s: %s", type(exc).__name__, exc)
    return Problem(500, "internal", "the request failed on the server; see its log")


def _allowed_methods(request: Request) -> list[str]:
    """Every method of every route on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and isinstance(route, APIRoute):
            methods |= route.methods or set()
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Problem responses for our errors, validation errors, HTTP errors and bugs."""

    async def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.response(request.url.path)

    async def grounded(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GroundedError)
        return from_error(exc).response(request.url.path)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]  # never echo the input value: it may be a secret or a document
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return Problem(422, "invalid-request", detail, extra={"errors": errors}).response(
            request.url.path
        )

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = {
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            413: "payload-too-large",
            415: "unsupported-media-type",
        }.get(exc.status_code, "invalid-request" if exc.status_code < 500 else "internal")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES[kind]
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return Problem(exc.status_code, kind, detail, headers=headers).response(request.url.path)

    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Problem(500, "internal", "the request failed on the server; see its log").response(
            request.url.path
        )

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(GroundedError, grounded)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, bug)
