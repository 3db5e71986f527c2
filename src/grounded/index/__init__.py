"""Stores: the system of record for documents, chunks, ACLs and vectors.

`open_store` is the registry from config `store.kind` to a backend.
"""

from __future__ import annotations

from pathlib import Path

from grounded.config import StoreConfig
from grounded.index.sqlite import SqliteStore


def open_store(cfg: StoreConfig, data_dir: Path) -> SqliteStore:
    return SqliteStore(
        data_dir,
        busy_timeout_ms=cfg.busy_timeout_ms,
        ann_min_chunks=cfg.ann_min_chunks,
        bm25_min_chunks=cfg.bm25_min_chunks,
    )


__all__ = ["SqliteStore", "open_store"]
