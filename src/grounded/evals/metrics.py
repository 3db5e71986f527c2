"""Retrieval metrics per item, and aggregates with bootstrap confidence intervals.

Definitions follow trec_eval and ranx, and `tests/test_eval_metrics.py` checks
them against ranx to 1e-6 on a SciFact run:

- a document is relevant when its grade is above 0; `qrels` map doc id → grade;
- hit@k: 1 when any relevant document is in the top k;
- recall@k: relevant documents in the top k / all relevant documents;
- precision@k: relevant documents in the top k / k (a short ranking is not padded);
- MRR@k: 1 / rank of the first relevant document within the top k, else 0;
- nDCG@k: graded, linear gain (`grade / log2(rank + 1)`), divided by the DCG of
  the ideal ordering of the item's judged documents.

An item with no relevant document scores 0 on every metric (as ranx does).
`aggregate` reports the mean with a percentile bootstrap interval: resampling
items with replacement, 1,000 times, from a fixed seed, so a report is
reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Qrels = Mapping[str, int]  # doc id → graded relevance
Metric = Callable[[Qrels, Sequence[str], int], float]


def _relevant(qrels: Qrels) -> set[str]:
    return {doc for doc, grade in qrels.items() if grade > 0}


def hit_at_k(qrels: Qrels, ranked: Sequence[str], k: int) -> float:
    relevant = _relevant(qrels)
    return 1.0 if any(doc in relevant for doc in ranked[:k]) else 0.0


def recall_at_k(qrels: Qrels, ranked: Sequence[str], k: int) -> float:
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def precision_at_k(qrels: Qrels, ranked: Sequence[str], k: int) -> float:
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return sum(1 for doc in ranked[:k] if doc in relevant) / k


def mrr_at_k(qrels: Qrels, ranked: Sequence[str], k: int) -> float:
    relevant = _relevant(qrels)
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(qrels: Qrels, ranked: Sequence[str], k: int) -> float:
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


METRICS: dict[str, Metric] = {
    "hit": hit_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "mrr": mrr_at_k,
    "ndcg": ndcg_at_k,
}


def parse_metric(name: str) -> tuple[Metric, int]:
    """`ndcg@10` → (ndcg_at_k, 10); the error names what exists."""
    base, sep, k = name.partition("@")
    if base not in METRICS or not sep or not k.isdigit() or int(k) < 1:
        known = ", ".join(f"{m}@K" for m in METRICS)
        raise ValueError(f"unknown retrieval metric {name!r}; use one of {known} (K ≥ 1)")
    return METRICS[base], int(k)


def per_item(
    names: Sequence[str],
    qrels: Mapping[str, Qrels],
    ranked: Mapping[str, Sequence[str]],
) -> dict[str, dict[str, float]]:
    """metric name → item id → value, for every item that has judgements."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        metric, k = parse_metric(name)
        out[name] = {item: metric(qrels[item], ranked.get(item, ()), k) for item in qrels}
    return out


@dataclass(frozen=True)
class Aggregate:
    """A mean over items with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95


def aggregate(
    values: Sequence[float], *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Aggregate:
    n = len(values)
    if n == 0:
        return Aggregate(math.nan, math.nan, math.nan, 0, confidence)
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 100):  # bounded memory for large sets
        rows = min(100, resamples - start)
        means[start : start + rows] = data[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Aggregate(float(data.mean()), float(low), float(high), n, confidence)
