"""Request limits: per-caller rate and token budget, model slots, body size.

Rate and token counters are fixed windows in `service.sqlite`, so every worker
process of one server shares them. A rejected request answers 429 with
Retry-After: the seconds until its window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grounded.server.auth import Caller, Rate
from grounded.server.problems import Problem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS limit_windows (
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,            -- 'requests' | 'tokens'
    window_start INTEGER NOT NULL, -- unix seconds, a multiple of the period
    used INTEGER NOT NULL,
    PRIMARY KEY (subject, kind, window_start)
);
"""


def _window(rate: Rate, now: float) -> tuple[int, float]:
    """The current window's start and the seconds left in it."""
    start = int(now // rate.period_s * rate.period_s)
    return start, start + rate.period_s - now


class Limiter:
    """Counts requests and model tokens per caller in fixed windows."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _add(self, subject: str, kind: str, start: int, amount: int) -> int:
        with self._lock:
            row = self._db.execute(
                "INSERT INTO limit_windows (subject, kind, window_start, used) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (subject, kind, window_start) DO UPDATE SET used = used + ?"
                " RETURNING used",
                (subject, kind, start, amount, amount),
            ).fetchone()
            # Old windows are dead weight; one delete per new window keeps the table small.
            if row[0] == amount:
                self._db.execute(
                    "DELETE FROM limit_windows WHERE subject = ? AND kind = ? AND window_start < ?",
                    (subject, kind, start),
                )
        return int(row[0])

    def _used(self, subject: str, kind: str, start: int) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT used FROM limit_windows"
                " WHERE subject = ? AND kind = ? AND window_start = ?",
                (subject, kind, start),
            ).fetchone()
        return int(row[0]) if row else 0

    def admit(self, caller: Caller) -> None:
        """Count one request; Problem 429 when the caller's rate is spent."""
        if caller.rate is None:
            return
        start, left = _window(caller.rate, self._clock())
        if self._add(caller.subject, "requests", start, 1) > caller.rate.count:
            raise Problem(
                429,
                "rate-limited",
                f"this key allows {caller.rate.text} requests; retry in {int(left) + 1} s",
                retry_after=left,
            )

    def check_tokens(self, caller: Caller) -> None:
        """Problem 429 when the caller's model-token budget for this window is spent."""
        if caller.tokens is None:
            return
        start, left = _window(caller.tokens, self._clock())
        if self._used(caller.subject, "tokens", start) >= caller.tokens.count:
            raise Problem(
                429,
                "token-budget-exhausted",
                f"this key's budget of {caller.tokens.text} model tokens is spent; "
                f"it renews in {int(left) + 1} s",
                retry_after=left,
            )

    def spend_tokens(self, caller: Caller, tokens: int) -> None:
        if caller.tokens is None or tokens <= 0:
            return
        start, _ = _window(caller.tokens, self._clock())
        self._add(caller.subject, "tokens", start, tokens)


class ModelSlots:
    """A bound on answers being generated at once, so a hanging model cannot take the server.

    A request waits `wait_s` for a slot, then gets 503 with Retry-After.
    """

    def __init__(self, slots: int, wait_s: float) -> None:
        self.slots = slots
        self.wait_s = wait_s
        self._semaphore = asyncio.Semaphore(slots)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise Problem(
                503,
                "overloaded",
                f"all {self.slots} model slots are busy; retry shortly",
                retry_after=max(1.0, self.wait_s),
            ) from None
        try:
            yield
        finally:
            self._semaphore.release()


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by header or as it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        mb = self.max_bytes / 1_000_000
        problem = Problem(413, "payload-too-large", f"the body is over the {mb:g} MB limit")
        await problem.response(scope["path"])(scope, _ignore_receive, send)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through as a 413."""

    def __init__(self) -> None:
        super().__init__(413, "the body is over the size limit")


async def _ignore_receive() -> Message:
    return {"type": "http.disconnect"}
