"""How exact dense search scales with index size, to decide when an ANN index pays.

    .venv/bin/python bench/vector_scaling.py [--sizes 100000,200000,500000,1000000,2000000]

For each size: a matrix of unit vectors (384 dims, float32) drawn around the
real SciFact chunk vectors of `--base` (Gaussian noise, renormalised; random
unit vectors when that index is absent), random ACL
ids (60% tenant-wide, the rest split over 9 restricted ACLs), and 200 random
queries through `VectorMatrix.search` — the code the store runs — for a
principal allowed 60% + one group (~65% of rows) and for one allowed 5%.
Prints p50/p95 latency and memory of the matrix; writes JSON.

With `--ann-sizes`, also builds the HNSW index (`grounded.index.ann`) at those
sizes and reports build time, latency and recall@100 against exact search.
Queries are drawn around the same vectors with more noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from grounded.index.ann import AnnIndex  # noqa: E402
from grounded.index.vectors import VectorMatrix  # noqa: E402

DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.standard_normal((n, DIM), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def _timed(matrix: VectorMatrix, qs: np.ndarray, allowed: np.ndarray, ann: AnnIndex | None):
    matrix.search(qs[0], allowed, 100, ann=ann)
    samples, results = [], []
    for q in qs:
        started = time.perf_counter()
        results.append({h.chunk_id for h in matrix.search(q, allowed, 100, ann=ann)})
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}, results


def _around(rng: np.random.Generator, base: np.ndarray, n: int, noise: float) -> np.ndarray:
    """n vectors near random rows of `base`: the geometry of real embeddings, at any size."""
    m = base[rng.integers(0, len(base), n)] + rng.normal(0, noise, (n, DIM)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def _base_vectors(path: Path | None) -> np.ndarray | None:
    if path is None or not path.exists():
        return None
    from grounded.index.sqlite import SqliteStore

    store = SqliteStore(path)
    model = store.embedding_model()
    assert model is not None
    matrix = store._current_matrix(model[2]).matrix  # noqa: SLF001 - bench reads the index
    store.close()
    return matrix


def measure(size: int, with_ann: bool, base: np.ndarray | None, queries: int = 200) -> dict:
    rng = np.random.default_rng(size)
    acl = np.where(rng.random(size) < 0.6, 0, rng.integers(1, 10, size)).astype(np.int64)
    vectors = _unit(rng, size) if base is None else _around(rng, base, size, 0.02)
    matrix = VectorMatrix(0, np.arange(size, dtype=np.int64), acl, vectors)
    qs = _unit(rng, queries) if base is None else _around(rng, base, queries, 0.05)
    out: dict[str, object] = {"size": size, "matrix_mb": round(matrix.matrix.nbytes / 1e6, 1)}
    ann = None
    if with_ann:
        started = time.perf_counter()
        ann = AnnIndex.build(matrix.matrix, generation=0)
        out["ann_build_s"] = round(time.perf_counter() - started, 1)
    for label, allowed in (("tenant + 1 group", [0, 1]), ("one small group", [2])):
        allowed_arr = np.array(allowed, dtype=np.int64)
        out[label], exact = _timed(matrix, qs, allowed_arr, None)
        if ann is not None:
            timing, approx = _timed(matrix, qs, allowed_arr, ann)
            recall = statistics.fmean(
                len(a & e) / len(e) for a, e in zip(approx, exact, strict=True)
            )
            out[f"{label} (hnsw)"] = {**timing, "recall@100": round(recall, 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,200000,500000,1000000,2000000")
    parser.add_argument("--ann-sizes", default="1000000")
    parser.add_argument(
        "--base",
        type=Path,
        default=ROOT / "bench/.work/scifact-onnx",
        help="index whose vectors seed the synthetic ones (random vectors if absent)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/vector_scaling.json")
    args = parser.parse_args()
    ann_sizes = {int(s) for s in args.ann_sizes.split(",") if s}
    base = _base_vectors(args.base)
    print(
        f"vectors: {'random' if base is None else f'around the {len(base)} vectors of {args.base}'}"
    )
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, size in ann_sizes, base))
        print(json.dumps(rows[-1]), flush=True)
    print("\nExact dense search (top 100 of N, ACL mask applied), 384 dims, this machine")
    print(f"{'chunks':>10}  {'matrix MB':>9}  {'p50/p95 ms (65% visible)':>26}  "
          f"{'p50/p95 ms (5% visible)':>24}")  # fmt: skip
    for r in rows:
        a, b = r["tenant + 1 group"], r["one small group"]
        assert isinstance(a, dict) and isinstance(b, dict)
        print(f"{r['size']:>10,}  {r['matrix_mb']:>9}  {a['p50_ms']:>12} / {a['p95_ms']:<11}  "
              f"{b['p50_ms']:>10} / {b['p95_ms']:<11}")  # fmt: skip
        for key in ("tenant + 1 group (hnsw)", "one small group (hnsw)"):
            if key in r:
                h = r[key]
                assert isinstance(h, dict)
                build = r["ann_build_s"]
                print(
                    f"{'':>10}  hnsw {key.split(' (')[0]}: p50 {h['p50_ms']} ms, p95 "
                    f"{h['p95_ms']} ms, recall@100 {h['recall@100']}, build {build} s"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
