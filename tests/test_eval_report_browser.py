"""The HTML evaluation report in a real browser: Debian's chromium driven by Playwright.

A small real run (`grounded eval run`: the smoke suite on 24 golden items, hash
embedder), one answer replaced by hostile markup, `grounded eval report RUN
--html` as a user runs it, and the page opened from disk. The checks are what a
person reading it would notice: charts that draw, tables and items that are
there, an answer quoting markup shown as text with nothing executed, and no
console errors.
Screenshot: test-artifacts/eval-report.png.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page

from grounded.evals.report import worst_items
from grounded.evals.suite import OPERATIONS
from tests.conftest import ARTIFACTS, ROOT
from tests.helpers import SAMPLE_CORPUS, grounded, hash_runtime, ingest

SMOKE = ROOT / "evals" / "smoke.yaml"
GOLDEN = ROOT / "evals" / "datasets" / "sample-corpus.jsonl"
BAR_WIDTH = 480  # px of a bar at 1.0 (html.py)
STROKE = 2  # px, the interval line's stroke width
# An answer that quotes a hostile document: if it were markup, it would set window.__pwned
# (and the <img> would try to load `x`, a console error).
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("eval-report")
    rt = hash_runtime(tmp / "data")
    try:
        ingest(rt, SAMPLE_CORPUS, collection="handbook")
    finally:
        rt.close()
    # The smoke suite on 24 of its items, run by the CLI (Playwright's loop owns this thread).
    suite = yaml.safe_load(SMOKE.read_text())
    suite.update(name="report", datasets=[str(GOLDEN)], sample={"n": 24, "seed": 1})
    (tmp / "suite.yaml").write_text(yaml.safe_dump(suite))
    ran = grounded("--data-dir", tmp / "data", "eval", "run", tmp / "suite.yaml", "--quiet",
                   cwd=tmp)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    [run_file] = (tmp / "runs").glob("report-*.json")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    worst = worst_items(run["items"], 1)[0]  # shown first under "Worst items"
    worst["answer"] = f"Quoted from a document: {PAYLOAD} & more"
    run_file.write_text(json.dumps(run), encoding="utf-8")
    page = tmp / "report.html"
    result = grounded("eval", "report", run_file, "--html", page, cwd=tmp)
    assert result.returncode == 0, result.stderr
    return page, run


def _open(browser: Browser, path: Path, problems: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(path.as_uri())
    return page


@pytest.mark.slow
def test_the_html_report_draws_its_charts_and_shows_answers_as_text(
    browser: Browser, report: tuple[Path, dict[str, Any]]
) -> None:
    path, run = report
    problems: list[str] = []
    page = _open(browser, path, problems)
    try:
        _metric_bars_and_intervals(page, run["aggregates"])
        _latency_histogram(page, len(run["items"]))
        _tags_and_worst_items(page, run["items"])
        # The hostile answer is text on the page, and nothing in it ran.
        first = page.locator("section.item").first
        assert PAYLOAD in first.inner_text()
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main script, main img").count() == 0
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the report scrolls sideways: {width}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=True)
        page.wait_for_timeout(100)  # let late console messages arrive
        assert problems == []
    finally:
        page.close()


def _metric_bars_and_intervals(page: Page, aggregates: dict[str, dict[str, Any]]) -> None:
    shown = {
        name: agg
        for name, agg in aggregates.items()
        if name not in OPERATIONS and name != "errors" and agg["mean"] is not None
    }
    rows = page.locator("svg[aria-label='metric bars'] g.metric")
    assert rows.count() == len(shown) >= 8
    whiskers = 0
    for name, agg in shown.items():
        row = page.locator(f"g.metric[data-metric='{name}']")
        bar = row.locator("rect.bar").bounding_box()
        label = row.locator("text").first.bounding_box()
        assert bar is not None and label is not None, name
        # The bar's length is the mean, drawn to the pixel, and its label does not run into it.
        assert abs(bar["width"] - BAR_WIDTH * agg["mean"]) < 1.5, (name, bar, agg)
        assert bar["height"] > 10 or agg["mean"] == 0, name
        assert label["x"] + label["width"] <= bar["x"], name
        interval = row.locator("line.interval").bounding_box()
        assert interval is not None, name
        # Its box includes the 2 px stroke: a zero-width interval is a 2 px dot.
        length = interval["width"] - STROKE
        assert abs(length - BAR_WIDTH * (agg["high"] - agg["low"])) < 1.5, (name, interval, agg)
        whiskers += length > 1
    # A hash-embedder run is not perfect everywhere: several intervals have a width.
    assert whiskers >= 3


def _latency_histogram(page: Page, items: int) -> None:
    bins = page.locator("svg[aria-label='latency histogram'] rect.bin")
    drawn, counted = 0, 0
    for i in range(bins.count()):
        box = bins.nth(i).bounding_box()
        assert box is not None
        title = bins.nth(i).locator("title").text_content() or ""
        found = re.match(r"(\d+) items", title)
        assert found, title
        count = int(found.group(1))
        assert (box["height"] > 0) == (count > 0), title
        drawn += box["height"] > 0
        counted += count
    assert drawn >= 2 and counted == items


def _tags_and_worst_items(page: Page, items: list[dict[str, Any]]) -> None:
    tags = {tag for item in items for tag in item["tags"]}
    table = page.locator("table.tags")
    assert table.is_visible()
    first_cells = set(table.locator("tr td:first-child").all_inner_texts())
    assert first_cells == tags
    worst = worst_items(items, 10)
    shown = page.locator("section.item")
    assert shown.count() == len(worst) >= 3
    for i, item in enumerate(worst):
        assert item["question"] in shown.nth(i).inner_text()
