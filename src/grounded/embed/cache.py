"""An embedding cache keyed by (model id, model revision, text hash).

`CachedEmbedder` wraps any `Embedder` and satisfies the same port, so unchanged
text is never embedded twice, across runs and across documents. The cache is
its own SQLite file: losing it costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grounded.ports import Embedder, EmbedKind, Vectors


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # texts actually sent to the model


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class CachedEmbedder:
    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.revision = inner.revision
        self.dim = inner.dim
        self.stats = CacheStats()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT, revision TEXT, text_hash BLOB,"
            " vector BLOB, PRIMARY KEY (model, revision, text_hash)) WITHOUT ROWID"
        )
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> Vectors:
        if kind == "query":  # queries are rarely repeated; keep the cache for documents
            return self.inner.embed(texts, kind=kind)
        keys = [text_key(t) for t in texts]
        found = self._lookup(keys)
        # Each distinct missing text goes to the model once, however often it repeats.
        missing = {k: i for i, k in enumerate(keys) if k not in found}
        if missing:
            fresh = self.inner.embed([texts[i] for i in missing.values()], kind=kind)
            new = dict(zip(missing, fresh, strict=True))
            self._store(list(new.items()))
            found.update(new)
        self.stats.hits += len(texts) - len(missing)
        self.stats.misses += len(missing)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _lookup(self, keys: list[bytes]) -> dict[bytes, Vectors]:
        found: dict[bytes, Vectors] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for lo in range(0, len(unique), 500):
                part = unique[lo : lo + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT text_hash, vector FROM embeddings WHERE model=? AND revision=?"
                    f" AND text_hash IN ({marks})",
                    [self.model_id, self.revision, *part],
                )
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _store(self, items: list[tuple[bytes, Vectors]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [
                    (self.model_id, self.revision, k, v.astype(np.float32).tobytes())
                    for k, v in items
                ],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
