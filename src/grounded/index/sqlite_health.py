"""Read-only health views of the SQLite store: statistics and invariant checks.

`grounded status` shows `stats`; tests (and operators after a crash) use
`consistency_problems`, which is empty exactly when the invariants listed in
`index/schema.py` hold.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

_CHECKS = {
    "chunks without a document": "SELECT count(*) FROM chunks c"
    " LEFT JOIN documents d ON d.id = c.document_id WHERE d.id IS NULL",
    "vectors without a chunk": "SELECT count(*) FROM vectors v"
    " LEFT JOIN chunks c ON c.id = v.chunk_id WHERE c.id IS NULL",
    "chunks without a vector": "SELECT count(*) FROM chunks c"
    " LEFT JOIN vectors v ON v.chunk_id = c.id WHERE v.chunk_id IS NULL",
    "documents without chunks": "SELECT count(*) FROM documents d"
    " WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
    "chunks whose ACL differs from their document's": "SELECT count(*) FROM chunks c"
    " JOIN documents d ON d.id = c.document_id WHERE c.acl_id != d.acl_id",
    "vectors from another model than the index's": "SELECT count(*) FROM vectors v"
    " WHERE v.model_id NOT IN (SELECT e.id FROM embedding_models e"
    " JOIN meta m ON m.key = 'embed_model' AND m.value = e.name"
    " JOIN meta r ON r.key = 'embed_revision' AND r.value = e.revision)",
}


def stats(
    db: sqlite3.Connection, data_dir: Path, model: tuple[str, str, int] | None
) -> dict[str, Any]:
    counts = {
        name: int(db.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        for name in ("documents", "chunks", "vectors")
    }
    last = db.execute(
        "SELECT id, started_at, finished_at, status, source, collection, stats, errors"
        " FROM runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    run: dict[str, Any] | None = None
    if last is not None:
        keys = ("id", "started_at", "finished_at", "status", "source", "collection")
        run = {k: v for k, v in zip(keys, last[:6], strict=True)}
        run["stats"], run["errors"] = json.loads(last[6]), json.loads(last[7])
    return {
        **counts,
        "data_dir": str(data_dir),
        "size_bytes": sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()),
        "embedding_model": None
        if model is None
        else {"id": model[0], "revision": model[1], "dim": model[2]},
        "last_run": run,
    }


def vector_models(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = db.execute(
        "SELECT e.name, e.revision, count(*) FROM vectors v"
        " JOIN embedding_models e ON e.id = v.model_id GROUP BY e.id"
    )
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def consistency_problems(db: sqlite3.Connection) -> list[str]:
    problems = []
    for name, sql in _CHECKS.items():
        n = int(db.execute(sql).fetchone()[0])
        if n:
            problems.append(f"{n} {name}")
    try:
        db.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        problems.append(f"full-text index out of step with chunks: {exc}")
    return problems
