"""Exact dense search over the vectors table, with a snapshot file beside the database.

SQLite is the system of record for vectors; this module keeps a float32 matrix
of them in memory for search. Loading 200k vectors from SQLite takes about a
second, so the matrix is also written to `vectors.snapshot.npz`, tagged with
the store's `generation` (bumped by every write transaction). A snapshot whose
generation differs from the database is stale and is rebuilt, so a crash
between a commit and a snapshot write can never serve wrong results.

Exact search stays under the latency target up to the sizes measured in
docs/benchmarks.md (200k chunks: ~16 ms for the matrix product on 2 cores).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from grounded.domain import Hit
from grounded.index.ann import AnnIndex

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VectorMatrix:
    generation: int
    chunk_ids: IntArray  # row → chunks.id
    acl_ids: IntArray  # row → chunks.acl_id
    matrix: npt.NDArray[np.float32]

    @classmethod
    def empty(cls, generation: int, dim: int) -> VectorMatrix:
        none = np.zeros(0, dtype=np.int64)
        return cls(generation, none, none, np.zeros((0, dim), dtype=np.float32))

    def search(
        self,
        query: npt.NDArray[np.float32],
        allowed_acls: IntArray,
        k: int,
        allowed_chunks: IntArray | None = None,
        ann: AnnIndex | None = None,
    ) -> list[Hit]:
        """Top-k by cosine similarity among rows whose ACL (and chunk, if given) is allowed.

        With a current `ann` index the search is approximate (HNSW) but still only
        ever visits allowed rows; otherwise it is exact.
        """
        if len(self.chunk_ids) == 0 or len(allowed_acls) == 0:
            return []
        mask = np.isin(self.acl_ids, allowed_acls)
        if allowed_chunks is not None:
            mask &= np.isin(self.chunk_ids, allowed_chunks)
        if ann is not None and ann.generation == self.generation:
            found = ann.search(query, mask, k)
            if found is not None:
                rows, scores = found
                return [
                    Hit(chunk_id=int(self.chunk_ids[row]), score=float(score), rank=r)
                    for r, (row, score) in enumerate(zip(rows, scores, strict=True), start=1)
                ]
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return []
        # Gathering rows copies them, which costs more than scoring every row unless few
        # are visible. At 200k x 384 here: scoring all 12 ms; gathering 5% 3.4 ms, 10%
        # 8.1 ms, 20% 21 ms, 48% 46 ms. The crossover is near 13%.
        if len(rows) * 10 < len(self.chunk_ids):
            scores = self.matrix[rows] @ query
        else:
            scores = (self.matrix @ query)[rows]
        top = min(k, len(rows))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [
            Hit(chunk_id=int(self.chunk_ids[rows[i]]), score=float(scores[i]), rank=r)
            for r, i in enumerate(best, start=1)
        ]


def load_matrix(db: sqlite3.Connection, generation: int, dim: int, snapshot: Path) -> VectorMatrix:
    """The matrix for `generation`, from the snapshot when it is current, else from SQLite."""
    cached = _read_snapshot(snapshot, generation)
    if cached is not None:
        return cached
    rows = db.execute(
        "SELECT v.chunk_id, c.acl_id, v.vector FROM vectors v JOIN chunks c ON c.id = v.chunk_id"
        " ORDER BY v.chunk_id"
    ).fetchall()
    if not rows:
        return VectorMatrix.empty(generation, dim)
    chunk_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    acl_ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    result = VectorMatrix(generation, chunk_ids, acl_ids, matrix)
    _write_snapshot(snapshot, result)
    return result


def _read_snapshot(path: Path, generation: int) -> VectorMatrix | None:
    try:
        with np.load(path) as data:
            if int(data["generation"]) != generation:
                return None
            return VectorMatrix(
                generation, data["chunk_ids"], data["acl_ids"], np.ascontiguousarray(data["matrix"])
            )
    except (OSError, KeyError, ValueError):
        return None  # missing, partial or foreign file: rebuild from SQLite


def _write_snapshot(path: Path, matrix: VectorMatrix) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                generation=np.int64(matrix.generation),
                chunk_ids=matrix.chunk_ids,
                acl_ids=matrix.acl_ids,
                matrix=matrix.matrix,
            )
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only data dir still searches, just slower
