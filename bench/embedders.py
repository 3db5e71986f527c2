"""Embedding throughput and peak memory of the candidate models, per batch size.

    .venv/bin/python bench/embedders.py [--python PATH_WITH_ST_EXTRA]

Each measurement runs in a fresh child process (so peak RSS is its own) that
loads the model, warms it up on 8 texts, then embeds a fixed sample of 320
SciFact documents (title + abstract, documents 200–519 of corpus.jsonl) and
reports texts/s and peak RSS. `--python` names an interpreter that has the
`grounded[st]` extra (torch 2.13.0 CPU) for the sentence-transformers rows;
without it those rows are skipped. Quality on SciFact comes from
`bench/retrieval.py --embedder onnx|st` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
from grounded.config import load_settings
from grounded.embed import build_embedder
kind, batch = sys.argv[1], int(sys.argv[2])
lines = open({corpus!r}).read().splitlines()[200:520]
texts = [json.loads(l)["title"] + "\\n" + json.loads(l)["text"] for l in lines]
model = build_embedder(load_settings(embedder={{"kind": kind, "batch_size": batch}}).embedder)
model.embed(texts[:8], kind="document")
start = time.perf_counter()
model.embed(texts, kind="document")
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"texts": len(texts), "seconds": round(seconds, 2),
                  "texts_per_s": round(len(texts) / seconds, 2), "peak_rss_mb": round(rss)}}))
"""

CANDIDATES = [("onnx", b) for b in (4, 8, 16, 32)] + [("sentence_transformers", b) for b in (8, 32)]


def measure(python: str, kind: str, batch: int) -> dict[str, object]:
    code = CHILD.format(src=str(ROOT / "src"), corpus=str(SCIFACT / "corpus.jsonl"))
    out = subprocess.run(
        [python, "-c", code, kind, str(batch)], check=True, capture_output=True, text=True
    ).stdout
    return {"embedder": kind, "batch_size": batch, **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=None, help="interpreter with grounded[st]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/embedders.json")
    args = parser.parse_args()
    rows = []
    for kind, batch in CANDIDATES:
        python = sys.executable if kind == "onnx" else args.python
        if python is None:
            continue
        rows.append(measure(python, kind, batch))
        r = rows[-1]
        print(f"{kind:22} batch {batch:>3}: {r['texts_per_s']:>6} texts/s  "
              f"peak RSS {r['peak_rss_mb']:>5} MB", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
