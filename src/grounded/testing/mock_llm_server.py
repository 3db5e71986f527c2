"""A local LLM server speaking OpenAI's and Anthropic's wire formats, with faults on demand.

Tests point the real provider adapters at it to check what a user sees when a
provider rate-limits, fails, stalls, drops the connection or sends garbage:

    with MockLLMServer() as server:                  # uvicorn in a thread, free port
        server.faults.append(Fault.status(429, retry_after=1.5))   # next request only
        OpenAICompatibleModel("m", OpenAICompatibleModelConfig(base_url=server.base_url))

The gateway benchmark measures our overhead against it, run as a process:
`python -m grounded.testing.mock_llm_server --port 8199`. It is raw ASGI, so it
needs nothing besides uvicorn, and it answers without model work so that the
time measured is ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from grounded.testing.mock_llm_wire import (
    Reply,
    answer_for,
    chat_events,
    chat_payload,
    embeddings_payload,
    error_body,
)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_REPLY = "Hello from the mock server."
FaultKind = Literal["status", "slow", "drop", "invalid_json", "truncated_stream", "stream_error"]
_DROP_MESSAGE = "ASGI callable returned without completing response."


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, applied to the next request (FIFO). Build one with the classmethods."""

    kind: FaultKind
    code: int = 0
    retry_after: float | None = None
    body: str | None = None  # status faults: the error message the server sends
    seconds: float = 0.0
    error_type: str = ""

    @classmethod
    def status(cls, code: int, retry_after: float | None = None, body: str | None = None) -> Fault:
        """That HTTP status, with an error JSON in the endpoint's format and maybe Retry-After."""
        return cls("status", code=code, retry_after=retry_after, body=body)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait, then answer normally: past the client's timeout, it sees a timeout."""
        return cls("slow", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Promise a longer body than is sent, then close the connection."""
        return cls("drop")

    @classmethod
    def invalid_json(cls) -> Fault:
        """HTTP 200 whose body (or first stream event) is not JSON."""
        return cls("invalid_json")

    @classmethod
    def truncated_stream(cls) -> Fault:
        """A stream that ends cleanly after two events, before its terminal event.

        A non-streaming request gets the first half of its JSON body instead.
        """
        return cls("truncated_stream")

    @classmethod
    def stream_error(cls, error_type: str = "overloaded_error") -> Fault:
        """A stream that reports an error after two events: Anthropic's `error` event, or an
        OpenAI-style `{"error": ...}` chunk. A non-streaming request is answered normally."""
        return cls("stream_error", error_type=error_type)


@dataclass(frozen=True)
class Received:
    """A request as the server saw it; `body` is the parsed JSON, or None."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


# ---------------------------------------------------------------- the app


class _QuietDrops(logging.Filter):
    """uvicorn logs an error for the connection Fault.drop breaks on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _DROP_MESSAGE


class MockLLMServer:
    """The ASGI app and, as a context manager, the uvicorn thread serving it."""

    def __init__(self, reply: Reply = DEFAULT_REPLY, *, report_usage: bool = True) -> None:
        self.reply: Reply = reply
        self.report_usage = report_usage
        self.faults: list[Fault] = []
        self.requests: list[Received] = []
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.reply, self.report_usage = DEFAULT_REPLY, True
        self.faults.clear()
        self.requests.clear()

    # -------------------------------------------------------------- serving

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> MockLLMServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)
        config = uvicorn.Config(
            self, **_UVICORN_OPTIONS, log_config=None, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mock-llm-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock LLM server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    # -------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = await _read_body(receive)
        body = _loads(raw)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        self.requests.append(Received(scope["method"], scope["path"], query, headers, body))
        fault = self.faults.pop(0) if self.faults else None
        route = _route(scope["method"], scope["path"])
        anthropic = route == "messages"
        streamed = isinstance(body, dict) and bool(body.get("stream"))
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        elif fault is not None and await _early_fault(fault, send, anthropic, streamed):
            return
        if route is None:
            message = f"no route for {scope['method']} {scope['path']}"
            await _send_json(send, 404, error_body(404, message, anthropic))
        elif route == "models":
            data = [{"id": "mock-model", "object": "model", "owned_by": "grounded"}]
            await _send_json(send, 200, {"object": "list", "data": data})
        elif route == "embeddings":
            await _send_json(send, 200, embeddings_payload(body if isinstance(body, dict) else {}))
        else:
            await self._chat(send, body if isinstance(body, dict) else {}, anthropic, fault)

    async def _chat(
        self, send: Send, body: dict[str, Any], anthropic: bool, fault: Fault | None
    ) -> None:
        answer = answer_for(body, anthropic, self.reply)
        if body.get("stream"):
            events = chat_events(body, answer, anthropic, self.report_usage)
            await _send_stream(send, events, anthropic, fault)
            return
        data = json.dumps(chat_payload(body, answer, anthropic, self.report_usage)).encode()
        if fault is not None and fault.kind == "truncated_stream":
            data = data[: len(data) // 2]
        await _send_bytes(send, 200, data)


_QUIET_DROPS = _QuietDrops()
_UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "access_log": False,
    "lifespan": "off",
    "ws": "none",
    "interface": "asgi3",
}


def _route(method: str, path: str) -> str | None:
    if method == "GET" and path.rstrip("/").endswith("/models"):
        return "models"
    if method != "POST":
        return None
    if path.endswith("/chat/completions"):  # also Azure's /openai/deployments/{d}/chat/completions
        return "chat"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "messages" if path.rstrip("/") == "/v1/messages" else None


async def _early_fault(fault: Fault, send: Send, anthropic: bool, streamed: bool) -> bool:
    """Apply a fault that replaces the reply; False when the reply itself carries it."""
    if fault.kind == "status":
        message = fault.body or f"mock fault: HTTP {fault.code}"
        extra = (
            []
            if fault.retry_after is None
            else [(b"retry-after", f"{fault.retry_after:g}".encode())]
        )
        await _send_json(send, fault.code, error_body(fault.code, message, anthropic), extra)
    elif fault.kind == "drop":
        kind = b"text/event-stream" if streamed else b"application/json"
        head = [(b"content-type", kind), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        part = b'data: {"id": "cut' if streamed else b'{"id": "cut'
        await send({"type": "http.response.body", "body": part, "more_body": True})
    elif fault.kind == "invalid_json" and streamed:
        head = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": b'data: {"choices": [{"delta": \n\n'})
    elif fault.kind == "invalid_json":
        await _send_bytes(send, 200, b'{"choices": [{"message": ')
    else:
        return False
    return True


async def _send_stream(
    send: Send, events: list[dict[str, Any]], anthropic: bool, fault: Fault | None
) -> None:
    head = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": head})
    if fault is not None and fault.kind in ("truncated_stream", "stream_error"):
        events = events[:2]
        if fault.kind == "stream_error":
            events.append(error_body(529, "mock stream error", anthropic, fault.error_type))
    for event in events:
        name = f"event: {event['type']}\n".encode() if anthropic else b""
        data = name + b"data: " + json.dumps(event).encode() + b"\n\n"
        await send({"type": "http.response.body", "body": data, "more_body": True})
    done = b"" if anthropic or fault is not None else b"data: [DONE]\n\n"
    await send({"type": "http.response.body", "body": done})


async def _send_json(
    send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send_bytes(send, status, json.dumps(payload).encode(), extra)


async def _send_bytes(
    send: Send, status: int, data: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (extra or [])})
    await send({"type": "http.response.body", "body": data})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the mock LLM (no faults) for benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199)
    args = parser.parse_args(argv)
    uvicorn.run(MockLLMServer(), host=args.host, port=args.port, **_UVICORN_OPTIONS)


__all__ = ["DEFAULT_REPLY", "Fault", "MockLLMServer", "Received", "Reply", "main"]

if __name__ == "__main__":
    main()
