"""Answers the service gave, and the feedback on them, in `service.sqlite`.

An answer is stored with the principal that asked, so only that user (or an
admin of the same tenant) can read it back or rate it; to everyone else it
does not exist.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from grounded.server.auth import Caller

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    user TEXT,
    subject TEXT NOT NULL,
    created TEXT NOT NULL,
    app TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL             -- the /v1/ask object, with the question
);
CREATE INDEX IF NOT EXISTS answers_tenant ON answers (tenant, created);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    answer_id TEXT NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    created TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id);
"""

Rating = Literal["up", "down"]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Feedback:
    id: int
    answer_id: str
    rating: Rating
    comment: str
    created: str


PRUNE_EVERY = 500  # answers stored between two deletions of expired ones


class AnswerStore:
    def __init__(
        self, path: Path, retention_days: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._retention_s = retention_days * 86_400
        self._clock = clock
        self._added = 0
        self.prune()

    def prune(self) -> int:
        """Delete answers (and their feedback) older than the retention period."""
        cutoff = _iso(self._clock() - self._retention_s)
        with self._lock:
            cur = self._db.execute("DELETE FROM answers WHERE created < ?", (cutoff,))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, caller: Caller, question: str, body: dict[str, Any]) -> tuple[str, str]:
        """Store an answer; returns its id and creation time."""
        answer_id, created = "ans_" + secrets.token_hex(12), _iso(self._clock())
        record = {**body, "answer_id": answer_id, "question": question, "created": created}
        p = caller.principal
        with self._lock:
            self._db.execute(
                "INSERT INTO answers (id, tenant, user, subject, created, app, status, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, p.tenant, p.user, caller.subject, created, body["app"],
                 body["status"], json.dumps(record)),
            )  # fmt: skip
            self._added += 1
        if self._added % PRUNE_EVERY == 0:
            self.prune()
        return answer_id, created

    def get(self, answer_id: str, caller: Caller) -> dict[str, Any] | None:
        """The answer, if `caller` asked it or administers its tenant; else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT tenant, user, subject, body FROM answers WHERE id = ?", (answer_id,)
            ).fetchone()
        if row is None or not _may_see(caller, row[0], row[1], row[2]):
            return None
        body: dict[str, Any] = json.loads(row[3])
        body["feedback"] = [vars(f) for f in self.feedback_for(answer_id)]
        return body

    def add_feedback(self, answer_id: str, caller: Caller, rating: Rating, comment: str) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO feedback (answer_id, subject, created, rating, comment)"
                " VALUES (?, ?, ?, ?, ?)",
                (answer_id, caller.subject, _iso(self._clock()), rating, comment),
            )
        return int(cur.lastrowid or 0)

    def feedback_for(self, answer_id: str) -> list[Feedback]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, answer_id, rating, comment, created FROM feedback"
                " WHERE answer_id = ? ORDER BY id",
                (answer_id,),
            ).fetchall()
        return [Feedback(*r) for r in rows]


def _may_see(caller: Caller, tenant: str, user: str | None, subject: str) -> bool:
    if caller.principal.tenant != tenant:
        return False
    if caller.admin:
        return True
    return subject == caller.subject or (user is not None and user == caller.principal.user)
