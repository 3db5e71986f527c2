"""How exact dense search scales with index size, to decide when an ANN index pays.

    .venv/bin/python bench/vector_scaling.py [--sizes 100000,200000,500000,1000000,2000000]

For each size: a matrix of random unit vectors (384 dims, float32), random ACL
ids (60% tenant-wide, the rest split over 9 restricted ACLs), and 200 random
queries through `VectorMatrix.search` — the code the store runs — for a
principal allowed 60% + one group (~65% of rows) and for one allowed 5%.
Prints p50/p95 latency and memory of the matrix; writes JSON.
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

from grounded.index.vectors import VectorMatrix  # noqa: E402

DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.standard_normal((n, DIM), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def measure(size: int, queries: int = 200) -> dict[str, object]:
    rng = np.random.default_rng(size)
    acl = np.where(rng.random(size) < 0.6, 0, rng.integers(1, 10, size)).astype(np.int64)
    matrix = VectorMatrix(0, np.arange(size, dtype=np.int64), acl, _unit(rng, size))
    qs = _unit(rng, queries)
    out: dict[str, object] = {"size": size, "matrix_mb": round(matrix.matrix.nbytes / 1e6, 1)}
    for label, allowed in (("tenant + 1 group", [0, 1]), ("one small group", [2])):
        allowed_arr = np.array(allowed, dtype=np.int64)
        matrix.search(qs[0], allowed_arr, 100)
        samples = []
        for q in qs:
            started = time.perf_counter()
            matrix.search(q, allowed_arr, 100)
            samples.append((time.perf_counter() - started) * 1000)
        cuts = statistics.quantiles(samples, n=100)
        out[label] = {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,200000,500000,1000000,2000000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/vector_scaling.json")
    args = parser.parse_args()
    rows = [measure(int(s)) for s in args.sizes.split(",")]
    print("\nExact dense search (top 100 of N, ACL mask applied), 384 dims, this machine")
    print(f"{'chunks':>10}  {'matrix MB':>9}  {'p50/p95 ms (65% visible)':>26}  "
          f"{'p50/p95 ms (5% visible)':>24}")  # fmt: skip
    for r in rows:
        a, b = r["tenant + 1 group"], r["one small group"]
        assert isinstance(a, dict) and isinstance(b, dict)
        print(f"{r['size']:>10,}  {r['matrix_mb']:>9}  {a['p50_ms']:>12} / {a['p95_ms']:<11}  "
              f"{b['p50_ms']:>10} / {b['p95_ms']:<11}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
