"""`grounded eval run`: a suite through the ask pipeline, scored, reported, gated."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from grounded.cli.context import jsonl_records, print_json, state
from grounded.errors import InvalidRequest
from grounded.evals.beir import evaluate_beir
from grounded.evals.compare import compare
from grounded.evals.compare import markdown as compare_markdown
from grounded.evals.datasets import load_beir
from grounded.evals.gates import check, check_stored
from grounded.evals.html import render as render_html
from grounded.evals.judges import Judge, agreement
from grounded.evals.report import markdown, read_run
from grounded.evals.runner import EvalRunner
from grounded.evals.suite import load_suite

app = typer.Typer(
    help="Evaluate apps on golden datasets; gate CI on the results.", no_args_is_help=True
)


@app.command("run")
def run(
    ctx: typer.Context,
    suite_file: Annotated[Path, typer.Argument(help="The suite YAML (see docs/evals.md).")],
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="A run JSON to compare against.")
    ] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a gate fails.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Where runs are written.")] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Run every item of the suite, print a Markdown report, and write the run JSON.

    Interrupted runs resume: finished items are kept in OUT/<suite>.partial.jsonl.
    """
    suite = load_suite(suite_file)
    base = read_run(baseline) if baseline else None
    runtime = state(ctx).runtime()
    if suite.app not in runtime.settings.apps:
        raise InvalidRequest(
            f"suite {suite_file} evaluates app {suite.app!r}, which the settings do not "
            f"define (configured: {', '.join(sorted(runtime.settings.apps))}); apps come "
            "from ./grounded.yaml or `grounded --config FILE eval run ...` (the suite's "
            "header may name its settings file)"
        )
    runner = EvalRunner(runtime, suite, out)
    document = _run_with_progress(runner, quiet)
    failures = check(suite, document, base)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{suite.name}-{stamp}.json"
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / f"{suite.name}.partial.jsonl").unlink(missing_ok=True)  # complete: nothing to resume
    typer.echo(markdown(document, failures))
    typer.echo(f"run written to {path}", err=True)
    if gate and failures:
        for line in failures:
            typer.secho(f"gate failed: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _run_with_progress(runner: EvalRunner, quiet: bool) -> dict[str, Any]:
    if quiet:
        return asyncio.run(runner.run())
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"eval {runner.suite.name}", total=None)
        runner.progress = lambda done, total: bar.update(task, completed=done, total=total)
        return asyncio.run(runner.run())


@app.command("compare")
def compare_runs(
    run_a: Annotated[Path, typer.Argument(help="The baseline run JSON (A).")],
    run_b: Annotated[Path, typer.Argument(help="The run to compare with it (B).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Deltas and regressions as JSON.")
    ] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", help="How far an item's metric must fall to list it.")
    ] = 0.1,
) -> None:
    """Per-metric deltas B − A with paired bootstrap intervals, and the items that regressed.

    The Markdown form (the default) fits a pull-request comment.
    """
    a, b = read_run(run_a), read_run(run_b)
    deltas, regressions = compare(a, b, threshold)
    if as_json:
        print_json(
            {
                "deltas": [
                    {
                        "metric": d.metric,
                        "a": d.a,
                        "b": d.b,
                        "delta": d.paired.mean,
                        "low": d.paired.low,
                        "high": d.paired.high,
                        "n": d.paired.n,
                        "worse": d.worse,
                    }
                    for d in deltas
                ],
                "regressions": [asdict(r) for r in regressions],
            }  # fmt: skip
        )
    else:
        typer.echo(compare_markdown(run_a.name, run_b.name, deltas, regressions))


@app.command("retrieval")
def retrieval(
    ctx: typer.Context,
    beir: Annotated[Path, typer.Option("--beir", help="A BEIR folder (corpus, queries, qrels).")],
    split: Annotated[str, typer.Option("--split", help="The qrels split to evaluate.")] = "test",
    app_name: Annotated[str, typer.Option("--app", help="Whose retrieval settings.")] = "default",
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the corpus is ingested as.")] = (
        "beir"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """nDCG@10, recall@100, MRR@10, hit@10 and precision@10 with 95% intervals.

    Ingests the corpus into the data directory first (incrementally: a second run
    only checks fingerprints), as collection beir-<folder>.
    """
    result = evaluate_beir(
        state(ctx).runtime(), load_beir(beir, split), app=app_name, tenant=tenant
    )
    if as_json:
        print_json(result)
        return
    typer.echo(
        f"{result['dataset']} ({split}, {result['queries']} queries, app {app_name}): "
        f"ingest {result['ingest_seconds']} s, search {result['search_seconds']} s"
    )
    for name, agg in result["metrics"].items():
        typer.echo(f"  {name:<13} {agg['mean']:.4f}  [{agg['low']:.4f}, {agg['high']:.4f}]")


@app.command("report")
def report(
    run_file: Annotated[Path, typer.Argument(help="A run JSON written by `eval run`.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Print the Markdown report of a run; with --html, also write the HTML one (with charts)."""
    document = read_run(run_file)
    failures = check_stored(document)
    typer.echo(markdown(document, failures))
    if html is not None:
        html.write_text(render_html(document, failures), encoding="utf-8")
        typer.echo(f"HTML report written to {html}", err=True)


@app.command("judge-agreement")
def judge_agreement(
    ctx: typer.Context,
    labels: Annotated[
        Path, typer.Argument(help="JSONL: question, reference, answer, label (correct|incorrect).")
    ],
    route: Annotated[
        str | None, typer.Option("--route", help="The judge's model route (default: the router).")
    ] = None,
    prompt: Annotated[str, typer.Option("--prompt", help="The rubric prompt.")] = (
        "judge-correctness@1"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """How often the LLM judge agrees with human labels: accuracy and Cohen's kappa.

    A failed or invalid judgement counts as a disagreement.
    """
    runtime = state(ctx).runtime()
    items = _read_labels(labels)
    judge = Judge(
        runtime.prompts.get(prompt),
        lambda request, schema: runtime.gateway.structured(request, schema, route),
    )

    async def grade_all() -> list[Any]:
        return [await judge.grade(i["question"], i["reference"], i["answer"]) for i in items]

    judgements = asyncio.run(grade_all())
    result = agreement([(i["label"], j.verdict) for i, j in zip(items, judgements, strict=True)])
    body = {"judge": prompt, "route": route, **asdict(result),
            "items": [{"id": i["id"], "label": i["label"], "judge": j.verdict, "reason": j.reason}
                      for i, j in zip(items, judgements, strict=True)]}  # fmt: skip
    if as_json:
        print_json(body)
    else:
        typer.echo(
            f"{result.n} items: accuracy {result.accuracy:.3f}, Cohen's kappa {result.kappa:.3f}, "
            f"{result.failed} failed judgements ({prompt}, route {route or 'default'})"
        )


def _read_labels(path: Path) -> list[dict[str, Any]]:
    needed = ("id", "question", "reference", "answer", "label")
    items = []
    for number, item in jsonl_records(path):
        missing = [k for k in needed if not isinstance(item.get(k), str)]
        if missing or item["label"] not in ("correct", "incorrect"):
            raise InvalidRequest(
                f"{path}:{number}: needs string fields {', '.join(needed)} with label "
                f"correct or incorrect (missing or wrong: {', '.join(missing) or 'label'})"
            )
        items.append(item)
    return items
