"""Evaluation benchmark: smoke-suite throughput, and `grounded eval retrieval` on SciFact.

    .venv/bin/python bench/evals.py                    # both phases
    .venv/bin/python bench/evals.py --phases smoke

Phases:
  smoke  the sample corpus ingested with the bundled embedder into a fresh data
         directory, then the smoke suite (evals/smoke.yaml, 99 items, extractive
         answers, concurrency 4) through the runner: items/s, not counting ingestion.
  beir   `grounded eval retrieval --beir ../shared/data/beir/scifact --split test` as a
         user runs it, wall time, on a copy of the SciFact data directory built by
         bench/retrieval.py (its embedding cache makes re-ingesting the corpus into the
         eval's own collection cheap), then again (fingerprints only). Without that
         directory the first run embeds the corpus, about 7 minutes here.

Prints a table and writes bench/results/evals.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grounded.config import load_settings
from grounded.domain import Acl
from grounded.evals.runner import EvalRunner
from grounded.evals.suite import load_suite
from grounded.ingest.sources import open_source
from grounded.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "evals.json"
SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"
SCIFACT_INDEX = ROOT / "bench" / ".work" / "scifact-onnx"
GROUNDED = Path(sys.executable).with_name("grounded")


def smoke(tmp: Path) -> dict[str, Any]:
    rt = Runtime(load_settings(data_dir=tmp / "smoke"))
    source = open_source(ROOT / "sample-corpus", "auto", max_file_bytes=10**8)
    rt.ingestor().run(source, collection="handbook", acl=Acl.of("acme"))
    suite = load_suite(ROOT / "evals" / "smoke.yaml")
    started = time.perf_counter()
    run = asyncio.run(EvalRunner(rt, suite, tmp / "runs").run())
    seconds = time.perf_counter() - started
    rt.close()
    items = len(run["items"])
    return {
        "items": items,
        "seconds": round(seconds, 2),
        "items_per_s": round(items / seconds, 2),
        "latency_p50_ms": run["aggregates"]["latency_p50_ms"]["mean"],
        "latency_p95_ms": run["aggregates"]["latency_p95_ms"]["mean"],
    }


def beir(tmp: Path) -> dict[str, Any]:
    data = tmp / "scifact"
    if SCIFACT_INDEX.exists():
        shutil.copytree(SCIFACT_INDEX, data)
    runs = []
    for attempt in ("first", "second"):
        cmd = [str(GROUNDED), "--data-dir", str(data), "eval", "retrieval",
               "--beir", str(SCIFACT), "--split", "test", "--json"]  # fmt: skip
        started = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - started
        result = json.loads(out)
        runs.append({
            "run": attempt,
            "wall_seconds": round(wall, 2),
            "ingest_seconds": result["ingest_seconds"],
            "search_seconds": result["search_seconds"],
            "documents_added": result["documents_added"],
            "ndcg@10": round(result["metrics"]["ndcg@10"]["mean"], 4),
            "recall@100": round(result["metrics"]["recall@100"]["mean"], 4),
        })  # fmt: skip
    return {"warm_embedding_cache": SCIFACT_INDEX.exists(), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="smoke,beir")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join(["python", *sys.argv]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if "smoke" in phases:
            results["smoke"] = smoke(Path(tmp))
            s = results["smoke"]
            print(
                f"smoke suite: {s['items']} items in {s['seconds']} s = {s['items_per_s']} "
                f"items/s (p50 {s['latency_p50_ms']:.0f} ms, p95 {s['latency_p95_ms']:.0f} ms)"
            )
        if "beir" in phases:
            results["beir"] = beir(Path(tmp))
            for r in results["beir"]["runs"]:
                print(f"eval retrieval SciFact ({r['run']} run): {r['wall_seconds']} s wall "
                      f"(ingest {r['ingest_seconds']} s, search {r['search_seconds']} s, "
                      f"{r['documents_added']} documents added); nDCG@10 {r['ndcg@10']}, "
                      f"recall@100 {r['recall@100']}")  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
