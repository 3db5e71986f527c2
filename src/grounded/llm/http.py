"""What every HTTP provider shares: API keys, error mapping, SSE parsing, clients.

Vendor exceptions stop here: each failure becomes a `ProviderError` with a kind
from `grounded.errors.ERROR_KINDS`, its status and Retry-After, and a message
scrubbed of the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any

import httpx
from pydantic import SecretStr

from grounded.domain import Capabilities, ChatRequest
from grounded.errors import ProviderError

_MAX_MESSAGE = 300


def api_key(model: str, env_var: str | None, *, setting: str | None = None) -> SecretStr | None:
    """The key named by `api_key_env`, or a ProviderError (kind auth) naming the variable.

    `setting` is where the variable is named in the configuration, for the message
    (default `models.{model}.api_key_env`).
    """
    if env_var is None:
        return None
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise ProviderError(
            model,
            f"no API key: set the environment variable {env_var} "
            f"(named by {setting or f'models.{model}.api_key_env'})",
            kind="auth",
        )
    return SecretStr(value)


def scrub(text: str, secrets: Iterable[SecretStr | None]) -> str:
    for secret in secrets:
        value = secret.get_secret_value() if secret is not None else ""
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def status_kind(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status >= 500:  # includes Anthropic's 529 "overloaded"
        return "server_error"
    return "bad_request"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
    return json.dumps(data)[:_MAX_MESSAGE]


def error_from_response(
    model: str,
    status: int,
    headers: httpx.Headers,
    body: bytes,
    secrets: Iterable[SecretStr | None] = (),
) -> ProviderError:
    """A non-2xx response as a ProviderError: kind by status, Retry-After, the server's message."""
    message = " ".join(_body_message(body).split())[:_MAX_MESSAGE] or "(empty body)"
    if status == 404:
        message += f" (check models.{model}.base_url and that the server serves this model)"
    return ProviderError(
        model,
        f"HTTP {status}: {scrub(message, secrets)}",
        kind=status_kind(status),
        status=status,
        retry_after=retry_after(headers),
    )


def error_from_exception(
    model: str, exc: Exception, timeout_s: float | None = None
) -> ProviderError:
    """Transport failures: timeouts, refused or dropped connections, broken streams."""
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        after = f" after {timeout_s:g} s" if timeout_s else ""
        return ProviderError(model, f"timed out{after} ({type(exc).__name__})", kind="timeout")
    if isinstance(exc, httpx.HTTPError):
        detail = str(exc) or type(exc).__name__
        return ProviderError(model, f"connection failed: {detail}", kind="connection")
    return ProviderError(model, f"{type(exc).__name__}: {exc}", kind="connection")


def invalid_response(model: str, what: str) -> ProviderError:
    return ProviderError(model, f"invalid response: {what}", kind="invalid_response")


def parse_json(model: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise invalid_response(model, f"body is not JSON ({exc})") from None


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body; `event` is "" when not named."""
    event, data = "", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, "\n".join(data)


def require(model: str, capabilities: Capabilities, request: ChatRequest) -> None:
    """Refuse a request needing what the model lacks: dropping its tools or schema would
    return an answer that looks right and is not."""
    missing = capabilities.missing(request.needs)
    if missing:
        raise ProviderError(
            model,
            f"does not support {', '.join(missing)}; route requests that need it to another "
            f"model, or set models.{model}.supports_{missing[0]}: true if the server can",
            kind="unsupported",
        )


def wire_name(name: str) -> str:
    """A tool or schema name as OpenAI and Anthropic accept it: [a-zA-Z0-9_-]{1,64}."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "output"


async def post_json(
    client: httpx.AsyncClient,
    model: str,
    url: str,
    *,
    json_body: Any,
    headers: dict[str, str],
    secrets: Iterable[SecretStr | None] = (),
    timeout_s: float | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    """POST JSON and parse the JSON answer; every failure is a ProviderError.

    `timeout_s` bounds the whole attempt: httpx's timeout bounds each read, so a
    server trickling bytes would otherwise never time out.
    """
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(url, json=json_body, headers=headers, params=params)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise error_from_exception(model, exc, timeout_s) from exc
    if not response.is_success:
        raise error_from_response(
            model, response.status_code, response.headers, response.content, secrets
        )
    return parse_json(model, response.content)


async def post_sse(
    client: httpx.AsyncClient,
    model: str,
    url: str,
    *,
    json_body: Any,
    headers: dict[str, str],
    secrets: Iterable[SecretStr | None] = (),
    timeout_s: float | None = None,
    params: dict[str, str] | None = None,
) -> AsyncGenerator[tuple[str, str], None]:
    """POST JSON and yield the (event, data) pairs of the event stream that answers.

    Each read is bounded by the client's timeout; a long answer may stream for
    longer than `timeout_s` as long as it keeps coming. Whether the stream ended
    with its terminal event is the provider's to check.
    """
    try:
        async with client.stream(
            "POST", url, json=json_body, headers=headers, params=params
        ) as response:
            if not response.is_success:
                body = await response.aread()
                raise error_from_response(
                    model, response.status_code, response.headers, body, secrets
                )
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                raise invalid_response(
                    model, f"asked for a stream, got {content_type or 'no content type'}"
                )
            async for pair in iter_sse(response):
                yield pair
    except (httpx.HTTPError, TimeoutError) as exc:
        raise error_from_exception(model, exc, timeout_s) from exc


def parse_event(model: str, data: str) -> Any:
    """One stream event's JSON payload."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise invalid_response(model, f"stream event is not JSON ({exc})") from None


def openai_endpoint(
    base_url: str, path: str, deployment: str | None, api_version: str | None
) -> tuple[str, dict[str, str] | None]:
    """URL and query of an OpenAI-style endpoint; Azure puts the deployment in the path."""
    base = base_url.rstrip("/")
    if deployment:
        params = {"api-version": api_version} if api_version else None
        return f"{base}/openai/deployments/{deployment}/{path}", params
    return f"{base}/{path}", None


def openai_headers(extra: dict[str, str], key: SecretStr | None, *, azure: bool) -> dict[str, str]:
    """The configured headers plus the key: `api-key` for Azure, a Bearer token elsewhere."""
    headers = dict(extra)
    if key is not None:
        secret = key.get_secret_value()
        if azure:
            headers["api-key"] = secret
        else:
            headers["authorization"] = f"Bearer {secret}"
    return headers


def pool_limits(cfg: Any) -> httpx.Limits:
    """Keep a connection alive for every call the model may have in flight.

    httpx keeps 20 by default; above that, each extra concurrent call would open and
    close a TCP connection per request.
    """
    keep = max(20, int(cfg.max_concurrency))
    return httpx.Limits(max_connections=max(100, keep), max_keepalive_connections=keep)


class LoopClient:
    """An httpx.AsyncClient per running event loop.

    httpx clients belong to the loop that first used them; the CLI and the tests
    run several loops in one process, the server one. Connections are pooled per loop.
    A client not closed by `aclose` is closed when `asyncio.run` shuts its loop down,
    so pooled sockets never outlive their loop (and never warn as unclosed).
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, Any]] = {}

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop or entry[1].is_closed:
            client = httpx.AsyncClient(**self._kwargs)
            entry = (loop, client, _close_at_loop_shutdown(client))
            self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
            self._clients[id(loop)] = entry
        return entry[1]

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(id(loop), None)
        if entry is not None:
            await entry[2].aclose()  # runs the parked generator's `finally`: closes the client


def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """An async generator parked at its first `yield`, registered with the running loop.

    asyncio.run closes the async generators still pending (`shutdown_asyncgens`)
    before it closes the loop; closing this one closes the client on its own loop.
    """

    async def parked() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await client.aclose()

    gen = parked()
    with contextlib.suppress(StopIteration):  # runs to the `yield` without awaiting anything
        gen.asend(None).send(None)
    return gen
