"""An HNSW index (hnswlib) over the vector matrix, for indexes too large for exact search.

Exact search is used up to `store.ann_min_chunks` (measured in
docs/benchmarks.md: bench/vector_scaling.py). Above it, ingestion builds this
index at the end of a run and saves it beside the snapshot, tagged with the
same generation. Search uses it only while its generation is current; a stale
or missing index means exact search, never a wrong answer.

The ACL is still applied inside the search: hnswlib calls our filter for
every candidate it considers, and the filter admits only rows whose ACL the
principal may read (other rows may be walked through to navigate the graph,
but are never candidates, so never returned, scored or counted). When the
allowed rows are a small share of the index, a filtered graph walk degrades,
so those searches go exact over just the allowed rows (cheap: they are few).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Below this share of visible rows, exact search over those rows beats a filtered walk.
EXACT_BELOW_SHARE = 0.05
M = 16
EF_CONSTRUCTION = 200
EF_SEARCH_MIN = 128


class AnnIndex:
    def __init__(self, index: Any, generation: int) -> None:
        self._index = index
        self.generation = generation

    @classmethod
    def build(cls, matrix: npt.NDArray[np.float32], generation: int) -> AnnIndex:
        import hnswlib

        index = hnswlib.Index(space="ip", dim=matrix.shape[1])
        index.init_index(max_elements=max(len(matrix), 1), ef_construction=EF_CONSTRUCTION, M=M)
        if len(matrix):
            index.add_items(matrix, np.arange(len(matrix)))
        return cls(index, generation)

    def save(self, path: Path) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        self._index.save_index(str(tmp))
        os.replace(tmp, path)
        _tag(path).write_text(json.dumps({"generation": self.generation}))

    @classmethod
    def load(cls, path: Path, generation: int, dim: int) -> AnnIndex | None:
        import hnswlib

        try:
            if json.loads(_tag(path).read_text())["generation"] != generation:
                return None
            index = hnswlib.Index(space="ip", dim=dim)
            index.load_index(str(path))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None  # missing, partial or foreign: exact search until rebuilt
        return cls(index, generation)

    def search(
        self, query: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
        """Rows and cosine scores of the top k allowed rows, or None to ask for exact search."""
        allowed = int(mask.sum())
        if allowed == 0 or allowed < EXACT_BELOW_SHARE * len(mask):
            return None
        top = min(k, allowed)
        self._index.set_ef(max(EF_SEARCH_MIN, 2 * top))
        try:
            labels, distances = self._index.knn_query(
                query.reshape(1, -1), k=top, num_threads=1, filter=lambda row: bool(mask[row])
            )
        except RuntimeError:
            return None  # the walk found fewer than `top` allowed rows: go exact
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)


def _tag(path: Path) -> Path:
    return path.with_name(path.name + ".json")
