"""Retrieval evaluation on a BEIR dataset with an app's retrieval settings.

The corpus is ingested into the data directory first (collection
`beir-<folder name>`, tenant `--tenant`): incrementally, so a second run only
checks fingerprints. Each judged query of the split then runs through the app's
retriever as a principal of that tenant; documents are ranked by their best
chunk, to depth 100, and scored with `evals.metrics` (the ranx definitions).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from grounded.domain import Acl, Principal, SearchFilters
from grounded.evals.datasets import BeirSplit
from grounded.evals.metrics import aggregate, per_item
from grounded.ingest.sources import open_source
from grounded.runtime import Runtime

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "hit@10", "precision@10")
DEPTH = 100


def evaluate_beir(
    runtime: Runtime,
    split: BeirSplit,
    *,
    app: str = "default",
    tenant: str = "beir",
    metrics: tuple[str, ...] = DEFAULT_METRICS,
) -> dict[str, Any]:
    collection = f"beir-{split.root.name}"
    started = time.perf_counter()
    source = open_source(split.corpus, "beir", max_file_bytes=10**10)
    report = runtime.ingestor().run(source, collection=collection, acl=Acl.of(tenant))
    ingest_s = time.perf_counter() - started
    app_cfg = runtime.asker.app(app)
    retriever = runtime.app_retriever(app_cfg)
    principal = Principal.of(tenant)
    filters = SearchFilters(collections=(collection,))
    started = time.perf_counter()
    ranked = {
        qid: [
            doc for doc, _ in retriever.best_per_document(text, principal, k=DEPTH, filters=filters)
        ]
        for qid, text in split.queries.items()
    }
    search_s = time.perf_counter() - started
    values = per_item(metrics, split.qrels, ranked)
    return {
        "dataset": str(split.root),
        "split": split.split,
        "app": app,
        "queries": len(split.queries),
        "documents_added": report.added,
        "ingest_seconds": round(ingest_s, 2),
        "search_seconds": round(search_s, 2),
        "metrics": {name: asdict(aggregate(list(v.values()))) for name, v in values.items()},
    }
