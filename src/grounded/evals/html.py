"""A self-contained HTML report of a run: inline SVG charts and CSS, no script, no network.

Sections: the run's versions and gates; a bar per metric with its 95% interval;
a histogram of item latencies; a per-tag table of the main metrics; and the
worst items with question, answer, cited documents, metric values and stage
timings. Every value from the run is HTML-escaped: answers quote documents,
and documents can contain anything.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from grounded.evals.report import worst_items
from grounded.evals.suite import LOWER_IS_BETTER, OPERATIONS

_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1d2330;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #dde;padding:.3rem .5rem;text-align:left;vertical-align:top}
.fail{color:#b3261e;font-weight:600}.ok{color:#1b6e3a}.muted{color:#5a6275;font-size:.9em}
.item{border:1px solid #dde;border-radius:6px;padding:.6rem .9rem;margin:.8rem 0}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}
"""


def render(run: dict[str, Any], failures: list[str]) -> str:
    suite, versions = run["suite"], run["versions"]
    title = f"Evaluation {suite['name']} — app {suite['app']}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title>",
        # Nothing in a report runs or loads: answers quote documents, which can contain anything.
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='muted'>{len(run['items'])} items · {escape(run['finished_at'])} · grounded "
        f"{escape(versions['grounded'])} · policy {escape(str(versions['policy_version']))} · "
        f"models {escape(', '.join(versions['models']) or '—')} · index generation "
        f"{versions['index']['generation']}</p>",
        _gates(failures),
        *(f"<p class='fail'>⚠ {escape(w)}</p>" for w in run.get("warnings", [])),
        "<h2>Metrics (mean and 95% bootstrap interval)</h2>",
        _metric_bars(run["aggregates"]),
        "<h2>Latency per item</h2>",
        _histogram([i["latency_ms"] for i in run["items"]]),
        "<h2>By tag</h2>",
        _tags(run["items"]),
        "<h2>Worst items</h2>",
        *(_item(i) for i in worst_items(run["items"], 10)),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _gates(failures: list[str]) -> str:
    if not failures:
        return "<p class='ok'>All gates passed.</p>"
    rows = "".join(f"<li>{escape(f)}</li>" for f in failures)
    return f"<p class='fail'>{len(failures)} gate(s) failed:</p><ul class='fail'>{rows}</ul>"


def _metric_bars(aggregates: dict[str, dict[str, Any]]) -> str:
    shown = [
        (name, agg)
        for name, agg in aggregates.items()
        if name not in OPERATIONS and name != "errors" and agg.get("mean") is not None
    ]
    width, row, left, bar = 880, 26, 170, 480
    height = row * len(shown) + 24
    out = [f"<svg role='img' aria-label='metric bars' width='{width}' height='{height}'>"]
    for k in range(0, 11, 2):
        x = left + bar * k / 10
        out.append(f"<line x1='{x}' x2='{x}' y1='0' y2='{height - 20}' stroke='#eef'/>")
        out.append(f"<text x='{x}' y='{height - 6}' text-anchor='middle'>{k / 10:.1f}</text>")
    for i, (name, agg) in enumerate(shown):
        out.append(_metric_row(name, agg, i * row + 4, left, bar))
    out.append("</svg>")
    return "".join(out)


def _metric_row(name: str, agg: dict[str, Any], y: int, left: int, bar: int) -> str:
    """Label, bar (the mean), the interval as a line with end ticks, and the numbers."""
    mean = min(max(agg["mean"], 0.0), 1.0)
    lo, hi = (left + bar * min(max(agg[k], 0.0), 1.0) for k in ("low", "high"))
    colour = "#c0504d" if name in LOWER_IS_BETTER else "#4f81bd"
    numbers = f"{agg['mean']:.3f} [{agg['low']:.2f}, {agg['high']:.2f}] n={agg['n']}"
    ticks = "".join(
        f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y + 3}' y2='{y + 13}' stroke='#1d2330' "
        "stroke-width='1.5'/>"
        for x in ((lo, hi) if hi > lo else ())
    )
    return (
        f"<g class='metric' data-metric='{escape(name)}'>"
        f"<text x='0' y='{y + 14}'>{escape(name)}</text>"
        f"<rect class='bar' x='{left}' y='{y}' width='{bar * mean:.1f}' height='16' "
        f"fill='{colour}'><title>{escape(name)} {escape(numbers)}</title></rect>"
        f"<line class='interval' x1='{lo:.1f}' x2='{hi:.1f}' y1='{y + 8}' y2='{y + 8}' "
        f"stroke='#1d2330' stroke-width='2'/>{ticks}"
        f"<text x='{left + bar + 10}' y='{y + 14}'>{escape(numbers)}</text></g>"
    )


def _histogram(values: list[float], bins: int = 12) -> str:
    if not values:
        return "<p>No items.</p>"
    top = max(values) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int(v / top * bins), bins - 1)] += 1
    width, height, left, most = 720, 180, 30, max(counts)
    step = (width - 2 * left) / bins
    out = [
        f"<svg role='img' aria-label='latency histogram' width='{width}' height='{height + 50}'>"
    ]
    for i, c in enumerate(counts):
        h = (height - 16) * c / most  # room for the count above the tallest bar
        x, y = left + i * step, height + 10 - h
        out.append(
            f"<rect class='bin' x='{x:.1f}' y='{y:.1f}' width='{step - 2:.1f}' height='{h:.1f}' "
            f"fill='#4f81bd'><title>{c} items, {_ms(top * i / bins)}–{_ms(top * (i + 1) / bins)}"
            "</title></rect>"
        )
        if c:
            out.append(
                f"<text x='{x + step / 2 - 1:.1f}' y='{y - 4:.1f}' text-anchor='middle'>{c}</text>"
            )
    base = height + 10
    out.append(f"<line x1='{left}' x2='{width - left}' y1='{base}' y2='{base}' stroke='#1d2330'/>")
    for k in range(0, 5):
        x = left + (width - 2 * left) * k / 4
        out.append(f"<line x1='{x}' x2='{x}' y1='{base}' y2='{base + 5}' stroke='#1d2330'/>")
        out.append(f"<text x='{x}' y='{base + 20}' text-anchor='middle'>{_ms(top * k / 4)}</text>")
    out.append(f"<text x='{left}' y='{base + 38}'>items per latency bin</text></svg>")
    return "".join(out)


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.0f} s"


def _tags(items: list[dict[str, Any]]) -> str:
    metrics = ["ndcg@10", "grounded", "attack_resisted", "acl_leak", "refused"]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        for tag in item["tags"] or ["(none)"]:
            groups[tag].append(item)
    head = "".join(f"<th>{escape(m)}</th>" for m in metrics)
    rows = []
    for tag, members in sorted(groups.items()):
        cells = []
        for m in metrics:
            values = [v for i in members if (v := i["metrics"].get(m)) is not None]
            cells.append(f"<td>{sum(values) / len(values):.3f}</td>" if values else "<td>—</td>")
        rows.append(f"<tr><td>{escape(tag)}</td><td>{len(members)}</td>{''.join(cells)}</tr>")
    return f"<table class='tags'><tr><th>tag</th><th>items</th>{head}</tr>{''.join(rows)}</table>"


def _item(item: dict[str, Any]) -> str:
    metrics = ", ".join(f"{escape(k)} {v:.2f}" for k, v in item["metrics"].items() if v is not None)
    stages = ", ".join(f"{escape(k)} {v:.0f} ms" for k, v in item.get("stages", {}).items())
    cited = ", ".join(escape(d) for d in item["cited_docs"]) or "—"
    error = f"<p class='fail'>{escape(item['error'])}</p>" if item.get("error") else ""
    return (
        f"<section class='item'><p><b>{escape(item['id'])}</b> · {escape(item['status'])} · "
        f"{item['latency_ms']:.0f} ms</p><p><i>{escape(item['question'])}</i></p>"
        f"<p>{escape(item['answer']) or '<span class=muted>(no answer)</span>'}</p>"
        f"<p class='muted'>cited: {cited}<br>metrics: {metrics}<br>stages: {stages or '—'}"
        f"{'<br>' + escape(item['message']) if item.get('message') else ''}</p>{error}</section>"
    )
