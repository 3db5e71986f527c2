"""Retrieval benchmark on BEIR SciFact: quality, ingestion throughput, search latency.

    .venv/bin/python bench/retrieval.py                      # everything, default embedder
    .venv/bin/python bench/retrieval.py --phases quality     # reuse an existing index
    .venv/bin/python bench/retrieval.py --embedder st        # fp32 sentence-transformers

Phases (each prints a table; all results go to --out as JSON):
- ingest:    full `grounded ingest --format beir` of the corpus in a fresh data dir
             (documents/s, chunks/s, peak RSS), then embedding-only time of exactly
             the same chunk texts with the same model, no cache (the ceiling).
- tune:      fusion settings chosen on SciFact *train* queries only.
- quality:   nDCG@10 and recall@100 on the 300 test queries for BM25, dense,
             hybrid (tuned), computed with ranx.
- latency:   single-query hybrid search with an ACL filter, p50/p95, on SciFact.
- synthetic: the same on a synthetic 200,000-chunk index (see `synthetic.py`).

Every number is measured in this run; nothing is copied from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from grounded.config import RetrievalConfig, Settings, load_settings  # noqa: E402
from grounded.domain import Principal  # noqa: E402
from grounded.evals.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from grounded.ingest.pipeline import embed_text  # noqa: E402
from grounded.retrieval.hybrid import HybridRetriever  # noqa: E402
from grounded.runtime import Runtime  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"
PRINCIPAL = Principal.of("bench")
EMBEDDERS = {
    "onnx": {"kind": "onnx"},
    "st": {"kind": "sentence_transformers"},
    "hash": {"kind": "hash", "dim": 384},
}


def settings_for(
    data_dir: Path, embedder: str, bm25_min_chunks: int | None = None, **retrieval: Any
) -> Settings:
    store = None if bm25_min_chunks is None else {"bm25_min_chunks": bm25_min_chunks}
    return load_settings(
        data_dir=data_dir, embedder=EMBEDDERS[embedder], retrieval=retrieval or None, store=store
    )


def load_queries(split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with (SCIFACT / "qrels" / f"{split}.tsv").open() as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.split()
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with (SCIFACT / "queries.jsonl").open() as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return queries, qrels


def by_rank(docs: dict[str, float]) -> dict[str, float]:
    """Scores replaced by reversed ranks: evaluation sees exactly our order, ties included."""
    return {d: float(len(docs) - i) for i, d in enumerate(docs)}


def run_queries(
    retriever: HybridRetriever, queries: dict[str, str], mode: str, k: int = 100
) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for qid, text in queries.items():
        docs = dict(retriever.best_per_document(text, PRINCIPAL, k=k, mode=mode))
        run[qid] = by_rank(docs)
    return run


def evaluate(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """nDCG@10 and recall@100, computed here and by ranx; they must agree.

    (A first ranx run once reported nonsense after a numba type-safety warning;
    the independent computation makes such a failure loud instead of silent.)
    """
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    ranked = {
        q: [d for d, _ in sorted(docs.items(), key=lambda x: -x[1])] for q, docs in run.items()
    }
    ours = {
        "ndcg@10": statistics.fmean(ndcg_at_k(qrels[q], ranked.get(q, []), 10) for q in qrels),
        "recall@100": statistics.fmean(
            recall_at_k(qrels[q], ranked.get(q, []), 100) for q in qrels
        ),
    }
    padded = {q: (run.get(q) or {"__none__": 0.0}) for q in qrels}
    theirs = ranx_evaluate(Qrels(qrels), Run(padded), ["ndcg@10", "recall@100"])
    assert isinstance(theirs, dict)
    for metric, value in ours.items():
        if abs(float(theirs[metric]) - value) > 1e-6:
            raise RuntimeError(f"{metric}: ranx says {theirs[metric]}, direct computation {value}")
    return {k: round(v, 4) for k, v in ours.items()}


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in [h, *[r[i] for r in rows]]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


# -- ingest -------------------------------------------------------------------------------


def phase_ingest(work: Path, embedder: str, ceiling: bool = True) -> dict[str, Any]:
    data_dir = work / f"scifact-{embedder}"
    shutil.rmtree(data_dir, ignore_errors=True)
    # The real CLI in a child process, so its peak RSS is measured on its own.
    env = {**os.environ, "GROUNDED_EMBEDDER__KIND": EMBEDDERS[embedder]["kind"]}
    if "dim" in EMBEDDERS[embedder]:
        env["GROUNDED_EMBEDDER__DIM"] = str(EMBEDDERS[embedder]["dim"])
    cmd = [
        str(Path(sys.executable).with_name("grounded")), "--data-dir", str(data_dir), "ingest",
        str(SCIFACT / "corpus.jsonl"), "--format", "beir", "--collection", "scifact",
        "--tenant", PRINCIPAL.tenant, "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    wall = time.perf_counter() - started
    report = json.loads(out)
    docs, chunks = report["added"], report["chunks_written"]
    ingest = {
        "documents": docs,
        "chunks": chunks,
        "seconds": round(wall, 2),
        "docs_per_s": round(docs / wall, 2),
        "chunks_per_s": round(chunks / wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    if not ceiling:
        table(f"Ingestion of SciFact ({embedder})", list(ingest), [list(ingest.values())])
        return ingest
    ceiling = embedding_only(data_dir, embedder)
    result = {**ingest, **ceiling, "ratio_to_embedding_only": round(
        ingest["seconds"] / ceiling["embedding_only_seconds"], 3)}  # fmt: skip
    table(
        f"Ingestion of SciFact ({embedder})",
        ["docs", "chunks", "seconds", "docs/s", "chunks/s", "peak RSS MB",
         "embed-only s", "ratio"],
        [[ingest["documents"], ingest["chunks"], ingest["seconds"], ingest["docs_per_s"],
          ingest["chunks_per_s"], ingest["peak_rss_mb"], ceiling["embedding_only_seconds"],
          result["ratio_to_embedding_only"]]],
    )  # fmt: skip
    return result


def embedding_only(data_dir: Path, embedder: str) -> dict[str, Any]:
    """Embed exactly the chunk texts of the index, with a fresh model and no cache."""
    from grounded.embed import build_embedder

    rt = Runtime(settings_for(data_dir, embedder))
    texts = []
    for doc in rt.store.list_documents(None):
        texts.extend(embed_text(doc.title, c) for c in rt.store.chunks_of(doc))
    model = build_embedder(rt.settings.embedder)  # no cache path: every text is embedded
    started = time.perf_counter()
    model.embed(texts, kind="document")
    seconds = time.perf_counter() - started
    rt.close()
    return {
        "embedding_only_seconds": round(seconds, 2),
        "embedding_only_texts_per_s": round(len(texts) / seconds, 2),
    }


# -- tune and quality ---------------------------------------------------------------------

GRID: list[dict[str, Any]] = [
    {"fusion": "rrf", "rrf_k": k, "bm25_weight": 1.0, "dense_weight": w}
    for k in (10, 30, 60, 100)
    for w in (0.5, 0.75, 1.0, 1.5)
] + [
    {"fusion": "weighted", "bm25_weight": 1.0, "dense_weight": w}
    for w in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
]


def phase_tune(work: Path, embedder: str) -> dict[str, Any]:
    """Grid search over fusion settings on train queries.

    Each query's BM25 and dense candidate lists are fetched once; every grid point
    then fuses the same lists with `grounded.retrieval.fusion.fuse`, exactly what
    `HybridRetriever.search` does between retrieval and materialisation.
    """
    from grounded.domain import SearchFilters
    from grounded.retrieval.fusion import fuse

    queries, qrels = load_queries("train")
    rt = Runtime(settings_for(work / f"scifact-{embedder}", embedder))
    lists, doc_of = {}, {}
    vectors = rt.embedder.embed(list(queries.values()), kind="query")
    for (qid, text), vector in zip(queries.items(), vectors, strict=True):
        bm25 = rt.store.keyword_search(text, PRINCIPAL, SearchFilters(), 100)
        dense = rt.store.vector_search(vector, PRINCIPAL, SearchFilters(), 100)
        lists[qid] = (bm25, dense)
        ids = {h.chunk_id for h in [*bm25, *dense]} - doc_of.keys()
        doc_of.update({i: d.doc_id for i, (_, d) in rt.store.fetch(list(ids), PRINCIPAL).items()})
    rt.close()
    rows = []
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for params in GRID:
        run: dict[str, dict[str, float]] = {}
        for qid, (bm25, dense) in lists.items():
            fused = fuse(
                bm25,
                dense,
                method=params["fusion"],
                rrf_k=params.get("rrf_k", 60),
                bm25_weight=params["bm25_weight"],
                dense_weight=params["dense_weight"],
            )
            docs: dict[str, float] = {}
            for f in fused:
                docs.setdefault(doc_of[f.chunk_id], f.score)
            run[qid] = by_rank(dict(list(docs.items())[:10]))
        score = evaluate(qrels, run)["ndcg@10"]
        rows.append([json.dumps(params), score])
        if score > best[0]:
            best = (score, params)
    table("Fusion tuning on SciFact train (nDCG@10)", ["settings", "nDCG@10"], rows)
    print(f"chosen: {best[1]} (train nDCG@10 {best[0]})")
    return {"grid": [{"settings": json.loads(r[0]), "ndcg@10": r[1]} for r in rows],
            "chosen": best[1], "train_ndcg@10": best[0]}  # fmt: skip


def phase_quality(work: Path, embedder: str, fusion: dict[str, Any]) -> dict[str, Any]:
    queries, qrels = load_queries("test")
    rt = Runtime(settings_for(work / f"scifact-{embedder}", embedder))
    out: dict[str, Any] = {}
    configs: dict[str, tuple[str, dict[str, Any]]] = {
        "bm25": ("bm25", {}),
        "dense": ("dense", {}),
        "hybrid rrf k=60 (untuned)": (
            "hybrid",
            {"fusion": "rrf", "rrf_k": 60, "bm25_weight": 1.0, "dense_weight": 1.0},
        ),
    }
    if fusion:  # only when phase tune has chosen settings for this embedder
        configs["hybrid (tuned on train)"] = ("hybrid", fusion)
    for name, (mode, params) in configs.items():
        retriever = HybridRetriever(rt.store, lambda: rt.embedder, RetrievalConfig(**params))
        out[name] = evaluate(qrels, run_queries(retriever, queries, mode))
    # The same index with keyword search ranked by the in-memory BM25 index, which
    # large indexes use (store.bm25_min_chunks) instead of FTS5.
    fast = Runtime(settings_for(work / f"scifact-{embedder}", embedder, bm25_min_chunks=0))
    fast.store.refresh_derived()
    hybrid_name = "hybrid, in-memory bm25" + (" (tuned)" if fusion else " (default fusion)")
    for name, mode in (("bm25, in-memory index", "bm25"), (hybrid_name, "hybrid")):
        retriever = HybridRetriever(fast.store, lambda: rt.embedder, RetrievalConfig(**fusion))
        out[name] = evaluate(qrels, run_queries(retriever, queries, mode))
    fast.close()
    rt.close()
    table(
        f"SciFact test, 300 queries ({embedder})",
        ["retriever", "nDCG@10", "recall@100"],
        [[n, m["ndcg@10"], m["recall@100"]] for n, m in out.items()],
    )
    return out


# -- latency ------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(qs[49], 2), "p95_ms": round(qs[94], 2), "n": len(samples)}


def measure_latency(
    retriever: HybridRetriever, queries: list[str], principal: Principal, k: int = 10
) -> dict[str, float]:
    for q in queries[:5]:  # warm caches and load the matrix
        retriever.search(q, principal, k=k)
    samples = []
    for q in queries:
        started = time.perf_counter()
        retriever.search(q, principal, k=k)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def phase_latency(work: Path, embedder: str, fusion: dict[str, Any]) -> dict[str, Any]:
    queries, _ = load_queries("test")
    rt = Runtime(settings_for(work / f"scifact-{embedder}", embedder, **fusion))
    result = measure_latency(rt.retriever, list(queries.values()), PRINCIPAL)
    rt.close()
    table(
        "Hybrid search latency on SciFact (tenant ACL filter, k=10)",
        ["queries", "p50 ms", "p95 ms"],
        [[result["n"], result["p50_ms"], result["p95_ms"]]],
    )
    return result


def phase_synthetic(work: Path, embedder: str, fusion: dict[str, Any], size: int) -> dict[str, Any]:
    from synthetic import build_synthetic_index

    data_dir = work / f"synthetic-{size}"
    source = Runtime(settings_for(work / f"scifact-{embedder}", embedder))
    build_info = build_synthetic_index(source.store, data_dir, size)
    source.close()
    started = time.perf_counter()
    rt = Runtime(settings_for(data_dir, embedder, **fusion))
    build_info["accelerators_built"] = rt.store.refresh_derived()  # what ingestion does
    build_info["accelerators_seconds"] = round(time.perf_counter() - started, 1)
    rt.close()
    queries, _ = load_queries("test")
    rt = Runtime(settings_for(data_dir, embedder, **fusion))
    rows, out = [], {"build": build_info}
    for label, principal in build_info["principals"].items():
        p = Principal.of(principal["tenant"], principal["user"], principal["groups"])
        result = measure_latency(rt.retriever, list(queries.values()), p)
        out[label] = result
        rows.append([label, result["n"], result["p50_ms"], result["p95_ms"]])
    rt.close()
    table(f"Hybrid search latency, synthetic index of {size:,} chunks (k=10)",
          ["principal", "queries", "p50 ms", "p95 ms"], rows)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default="onnx")
    parser.add_argument("--phases", default="ingest,tune,quality,latency,synthetic")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--synthetic-size", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the embedding-only timing in ingest"
    )
    args = parser.parse_args()
    phases = args.phases.split(",")
    out_path = args.out or ROOT / "bench" / "results" / f"retrieval-{args.embedder}.json"
    results: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    fusion: dict[str, Any] = results.get("tune", {}).get("chosen", {})
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if "ingest" in phases:
        results["ingest"] = phase_ingest(args.work_dir, args.embedder, not args.no_ceiling)
    if "tune" in phases:
        results["tune"] = phase_tune(args.work_dir, args.embedder)
        fusion = results["tune"]["chosen"]
    if "quality" in phases:
        results["quality"] = phase_quality(args.work_dir, args.embedder, fusion)
    if "latency" in phases:
        results["latency"] = phase_latency(args.work_dir, args.embedder, fusion)
    if "synthetic" in phases:
        results["synthetic"] = phase_synthetic(
            args.work_dir, args.embedder, fusion, args.synthetic_size
        )
    results["peak_rss_mb_bench_process"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
