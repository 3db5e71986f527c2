"""An exact-match response cache in SQLite, keyed so that principals never share answers.

The key hashes everything that changes the answer: the route's identity (its
models and their settings), the generation parameters, messages, tools, schema,
sources, and the caller's `cache_scope`. A request without a scope is never
cached: a caller that forgets to say who may share an answer gets no sharing.
For prompts that contain retrieved documents the caller passes a scope that
separates principals who could see different documents (see docs/gateway.md).

Lookups and writes run inline: an indexed read or a WAL append with
synchronous=NORMAL (no fsync) takes tens of microseconds, less than handing the
work to a thread would (bench/gateway.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from grounded.domain import ChatRequest, ChatResponse, StreamEvent, ToolCall, Usage
from grounded.errors import StoreError
from grounded.ports import ChatModel
from grounded.telemetry.metrics import Metrics

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
"""


def cache_key(identity: str, request: ChatRequest) -> str:
    payload = {
        "identity": identity,
        "scope": request.cache_scope,
        "params": request.params(),
        "messages": [dataclasses.asdict(m) for m in request.messages],
        "tools": [dataclasses.asdict(t) for t in request.tools],
        "schema": request.json_schema,
        "sources": [dataclasses.asdict(s) for s in request.sources],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _dump(response: ChatResponse) -> str:
    data = dataclasses.asdict(response)
    data.pop("attempts")
    return json.dumps(data, ensure_ascii=False, default=str)


def _load(text: str) -> ChatResponse:
    data: dict[str, Any] = json.loads(text)
    data["tool_calls"] = tuple(ToolCall(**c) for c in data.get("tool_calls", ()))
    data["usage"] = Usage(**data["usage"]) if data.get("usage") else None
    return ChatResponse(**data)


class ResponseCache:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the response cache {path}: {exc}") from exc

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute(
                "SELECT response FROM responses WHERE key = ? AND expires_at > ?",
                (key, self._clock()),
            ).fetchone()
        return _load(row[0]) if row else None

    def put(self, key: str, response: ChatResponse, ttl_s: float) -> None:
        now = self._clock()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, response, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (key, _dump(response), now, now + ttl_s),
            )

    def purge(self) -> int:
        """Delete expired entries; returns how many."""
        with self._lock:
            cur = self._db.execute("DELETE FROM responses WHERE expires_at <= ?", (self._clock(),))
        return cur.rowcount

    def clear(self) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM responses")
        return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Cached:
    """Answers repeated requests from the cache. A hit costs nothing: zero usage, zero cost."""

    def __init__(
        self,
        inner: ChatModel,
        cache: ResponseCache,
        *,
        ttl_s: float,
        identity: str,
        metrics: Metrics | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.cache = cache
        self.ttl_s = ttl_s
        self.identity = identity
        self.metrics = metrics or Metrics()

    def _lookup(self, request: ChatRequest) -> tuple[str | None, ChatResponse | None]:
        if request.cache_scope is None:
            self.metrics.inc("llm_cache_total", route=self.name, result="bypass")
            return None, None
        key = cache_key(self.identity, request)
        hit = self.cache.get(key)
        self.metrics.inc("llm_cache_total", route=self.name, result="hit" if hit else "miss")
        if hit is None:
            return key, None
        return key, replace(hit, cached=True, usage=Usage(), cost_usd=0.0, attempts=())

    async def complete(self, request: ChatRequest) -> ChatResponse:
        key, hit = self._lookup(request)
        if hit is not None:
            return hit
        response = await self.inner.complete(request)
        if key is not None:
            self.cache.put(key, response, self.ttl_s)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        key, hit = self._lookup(request)
        if hit is not None:
            yield StreamEvent(delta=hit.text)
            yield StreamEvent(response=hit)
            return
        async for event in self.inner.stream(request):
            if event.response is not None and key is not None:
                self.cache.put(key, event.response, self.ttl_s)
            yield event

    async def aclose(self) -> None:
        await self.inner.aclose()
