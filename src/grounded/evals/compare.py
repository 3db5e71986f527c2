"""Comparing two runs item by item: per-metric deltas with paired bootstrap intervals.

Items are paired by id. For each metric, the delta is B − A over the items both
runs scored, and its interval comes from resampling those pairs (so the
question-to-question variance, shared by both runs, cancels out). An item
regressed when a metric moved the bad way by at least `threshold` (any change
of a 0/1 metric); the list names the item, the metric and both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grounded.evals.metrics import Aggregate, aggregate
from grounded.evals.suite import LOWER_IS_BETTER


@dataclass(frozen=True)
class Delta:
    metric: str
    a: float | None
    b: float | None
    paired: Aggregate  # of B − A over the items both runs scored

    @property
    def worse(self) -> bool:
        """The interval lies entirely on the bad side of zero."""
        if self.paired.n == 0:
            return False
        if self.metric in LOWER_IS_BETTER:
            return self.paired.low > 0
        return self.paired.high < 0


@dataclass(frozen=True)
class Regression:
    item: str
    metric: str
    a: float
    b: float


def compare(
    a: dict[str, Any], b: dict[str, Any], threshold: float = 0.1
) -> tuple[list[Delta], list[Regression]]:
    items_a = {i["id"]: i for i in a["items"]}
    items_b = {i["id"]: i for i in b["items"]}
    common = [i for i in items_a if i in items_b]
    metrics = [m for m in a["aggregates"] if m in b["aggregates"]]
    deltas: list[Delta] = []
    regressions: list[Regression] = []
    for metric in metrics:
        pairs = [
            (va, vb)
            for item in common
            if (va := items_a[item]["metrics"].get(metric)) is not None
            and (vb := items_b[item]["metrics"].get(metric)) is not None
        ]
        deltas.append(
            Delta(
                metric,
                a["aggregates"][metric].get("mean"),
                b["aggregates"][metric].get("mean"),
                aggregate([vb - va for va, vb in pairs]),
            )
        )
        for item in common:
            va = items_a[item]["metrics"].get(metric)
            vb = items_b[item]["metrics"].get(metric)
            if va is None or vb is None:
                continue
            bad = (vb - va) if metric in LOWER_IS_BETTER else (va - vb)
            if bad >= threshold:
                regressions.append(Regression(item, metric, va, vb))
    return deltas, regressions


def markdown(a_name: str, b_name: str, deltas: list[Delta], regressions: list[Regression]) -> str:
    lines = [
        f"## {a_name} → {b_name}",
        "",
        "| metric | A | B | B − A | 95% paired interval | n |",
        "|---|---|---|---|---|---|",
    ]
    for d in deltas:
        mark = " ❌" if d.worse else ""
        lines.append(
            f"| {d.metric} | {_fmt(d.a)} | {_fmt(d.b)} | {_fmt(d.paired.mean, signed=True)}{mark} "
            f"| {_fmt(d.paired.low, signed=True)} … {_fmt(d.paired.high, signed=True)} "
            f"| {d.paired.n} |"
        )
    lines += ["", f"**Items that regressed:** {len(regressions)}"]
    lines += [f"- `{r.item}` {r.metric}: {r.a:.3g} → {r.b:.3g}" for r in regressions[:50]]
    if len(regressions) > 50:
        lines.append(f"- … and {len(regressions) - 50} more")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
