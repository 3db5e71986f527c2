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
    width, row, left, bar = 800, 26, 170, 480
    height = row * len(shown) + 24
    out = [f"<svg role='img' aria-label='metric bars' width='{width}' height='{height}'>"]
    for k in range(0, 11, 2):
        x = left + bar * k / 10
        out.append(f"<line x1='{x}' x2='{x}' y1='0' y2='{height - 20}' stroke='#eef'/>")
        out.append(f"<text x='{x - 8}' y='{height - 6}'>{k / 10:.1f}</text>")
    for i, (name, agg) in enumerate(shown):
        y = i * row + 4
        mean = min(max(agg["mean"], 0.0), 1.0)
        colour = "#c0504d" if name in LOWER_IS_BETTER else "#4f81bd"
        out.append(f"<text x='0' y='{y + 14}'>{escape(name)}</text>")
        out.append(
            f"<rect x='{left}' y='{y}' width='{bar * mean:.1f}' height='16' fill='{colour}'>"
            f"<title>{escape(name)} {agg['mean']:.3f} [{agg['low']:.3f}, {agg['high']:.3f}] "
            f"n={agg['n']}</title></rect>"
        )
        lo, hi = (min(max(agg[k], 0.0), 1.0) for k in ("low", "high"))
        out.append(
            f"<line x1='{left + bar * lo:.1f}' x2='{left + bar * hi:.1f}' y1='{y + 8}' "
            f"y2='{y + 8}' stroke='#1d2330' stroke-width='2'/>"
        )
        out.append(
            f"<text x='{left + bar + 10}' y='{y + 14}'>{agg['mean']:.3f} (n={agg['n']})</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _histogram(values: list[float], bins: int = 12) -> str:
    if not values:
        return "<p>No items.</p>"
    top = max(values) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int(v / top * bins), bins - 1)] += 1
    width, height, most = 720, 180, max(counts)
    step = (width - 40) / bins
    out = [
        f"<svg role='img' aria-label='latency histogram' width='{width}' height='{height + 30}'>"
    ]
    for i, c in enumerate(counts):
        h = height * c / most
        out.append(
            f"<rect x='{30 + i * step:.1f}' y='{height - h:.1f}' width='{step - 2:.1f}' "
            f"height='{h:.1f}' fill='#4f81bd'><title>{c} items, "
            f"{top * i / bins:.0f}–{top * (i + 1) / bins:.0f} ms</title></rect>"
        )
    out.append(f"<text x='30' y='{height + 18}'>0 ms</text>")
    out.append(f"<text x='{width - 80}' y='{height + 18}'>{top:.0f} ms</text></svg>")
    return "".join(out)


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
    return f"<table><tr><th>tag</th><th>items</th>{head}</tr>{''.join(rows)}</table>"


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
