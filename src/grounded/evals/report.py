"""Markdown reports of a run: short enough for a pull-request comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grounded.errors import InvalidRequest
from grounded.evals.suite import LOWER_IS_BETTER


def read_run(path: Path) -> dict[str, Any]:
    """A run JSON written by `grounded eval run`; InvalidRequest names what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"cannot read run {path}: {exc}") from None
    if not isinstance(document, dict) or "aggregates" not in document:
        raise InvalidRequest(f"{path} is not a run written by `grounded eval run`")
    return document


def markdown(run: dict[str, Any], failures: list[str], *, worst: int = 5) -> str:
    suite, versions, aggregates = run["suite"], run["versions"], run["aggregates"]
    items = run["items"]
    lines = [
        f"## Evaluation: {suite['name']} — app `{suite['app']}`, {len(items)} items",
        "",
        f"grounded {versions['grounded']} · prompts {', '.join(versions['prompts']) or '—'} · "
        f"models {', '.join(versions['models']) or '—'} · policy {versions['policy_version']} · "
        f"index generation {versions['index']['generation']}",
        "",
        "| metric | value | 95% interval | n | gate |",
        "|---|---|---|---|---|",
    ]
    failed = {line.split(" ")[0] for line in failures}
    gated = set(suite.get("thresholds", {})) | set(suite.get("max_regression", {}))
    for metric, agg in aggregates.items():
        gate = "❌" if metric in failed else ("✅" if metric in gated else "")
        lines.append(
            f"| {metric} | {_fmt(agg['mean'])} | {_fmt(agg['low'])}–{_fmt(agg['high'])} "
            f"| {agg['n']} | {gate} |"
        )
    lines += ["", "**Gates:** " + ("all passed" if not failures else f"{len(failures)} failed")]
    lines += [f"- {line}" for line in failures]
    lines += [f"\n⚠️ {warning}" for warning in run.get("warnings", [])]
    bad = worst_items(items, worst)
    if bad:
        lines += ["", "**Worst items**", ""]
        for item in bad:
            lines.append(f"- `{item['id']}` ({item['status']}): {item['question']}")
    return "\n".join(lines) + "\n"


def worst_items(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    def badness(item: dict[str, Any]) -> float:
        metrics = item["metrics"]
        score = 0.0
        for name, value in metrics.items():
            if value is None or name == "refused":
                continue
            score += value if name in LOWER_IS_BETTER else 1 - value
        return score + (5 if item.get("error") else 0)

    ranked = sorted(items, key=lambda i: (-badness(i), i["id"]))
    return [i for i in ranked[:n] if badness(i) > 0]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
