"""An exact-match response cache in SQLite, keyed so that principals never share answers.

The key hashes everything that changes the answer: the route's identity (its
models and their settings), the generation parameters, messages, tools, schema,
sources, and the caller's `cache_scope`. A request without a scope is never
cached: a caller that forgets to say who may share an answer gets no sharing.
For prompts that contain retrieved documents the caller passes a scope that
separates principals who could see different documents (see docs/gateway.md).

Lookups and writes run inline on the event loop: an indexed read takes a few
microseconds and writes are batched (see ResponseCache), less than handing the
work to a thread would cost (bench/gateway.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from grounded.domain import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall, Usage
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


def _message(m: Message) -> list[Any]:
    calls = [[c.id, c.name, c.arguments] for c in m.tool_calls]
    return [m.role, m.content, calls, m.tool_call_id]


def cache_key(identity: str, request: ChatRequest) -> str:
    """SHA-256 over everything that changes the answer, and the caller's scope."""
    payload = [
        identity,
        request.cache_scope,
        request.params(),
        [_message(m) for m in request.messages],
        [[t.name, t.description, t.parameters] for t in request.tools],
        request.json_schema,
        [[s.id, s.title, s.text] for s in request.sources],
    ]
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _dump(response: ChatResponse) -> str:
    usage = response.usage
    data = {
        "text": response.text,
        "model": response.model,
        "finish_reason": response.finish_reason,
        "tool_calls": [[c.id, c.name, c.arguments] for c in response.tool_calls],
        "usage": [usage.input_tokens, usage.output_tokens, usage.estimated] if usage else None,
        "cost_usd": response.cost_usd,
        "provider_model": response.provider_model,
    }
    return json.dumps(data, ensure_ascii=False)


def _load(text: str) -> ChatResponse:
    data: dict[str, Any] = json.loads(text)
    usage = data["usage"]
    return ChatResponse(
        text=data["text"],
        model=data["model"],
        finish_reason=data["finish_reason"],
        tool_calls=tuple(ToolCall(*c) for c in data["tool_calls"]),
        usage=Usage(*usage) if usage else None,
        cost_usd=data["cost_usd"],
        provider_model=data["provider_model"],
    )


class ResponseCache:
    """SQLite, written behind: new entries wait in memory and go to disk in batches.

    One INSERT per answer costs more than the rest of the gateway together (a WAL
    commit per row); a batch of up to `batch` rows, or whatever waited `flush_s`,
    is written in one transaction. Reads see pending entries. A crash loses at most
    the unwritten entries: the cache is an optimisation, never the record.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        batch: int = 64,
        flush_s: float = 1.0,
    ) -> None:
        self.path = path
        self._clock = clock
        self._batch = batch
        self._flush_s = flush_s
        self._pending: dict[str, tuple[str, float, float]] = {}
        self._last_flush = clock()
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
        now = self._clock()
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                return _load(pending[0]) if pending[2] > now else None
            row = self._db.execute(
                "SELECT response FROM responses WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
        return _load(row[0]) if row else None

    def put(self, key: str, response: ChatResponse, ttl_s: float) -> None:
        now = self._clock()
        with self._lock:
            self._pending[key] = (_dump(response), now, now + ttl_s)
            if len(self._pending) >= self._batch or now - self._last_flush >= self._flush_s:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        self._last_flush = self._clock()
        if not self._pending:
            return
        rows = [(k, blob, c, e) for k, (blob, c, e) in self._pending.items()]
        self._pending.clear()
        with self._db:  # one transaction
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO responses (key, response, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )

    def purge(self) -> int:
        """Delete expired entries; returns how many."""
        with self._lock:
            self._flush()
            cur = self._db.execute("DELETE FROM responses WHERE expires_at <= ?", (self._clock(),))
        return cur.rowcount

    def clear(self) -> int:
        with self._lock:
            self._pending.clear()
            cur = self._db.execute("DELETE FROM responses")
        return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            self._flush()
            return self._db.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._flush()
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
