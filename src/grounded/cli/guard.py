"""`grounded guard scan`: run a guard policy's stage over a text or a JSONL file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from grounded.cli.context import jsonl_records, print_json
from grounded.domain import STAGES, GuardContext, Verdict
from grounded.errors import InvalidRequest
from grounded.guards.policy import build_guards, load_policy

app = typer.Typer(help="Guardrails: scan text with a guard policy.", no_args_is_help=True)
EXIT_BLOCKED = 3


@app.command("scan")
def scan(
    text: Annotated[str | None, typer.Argument(help="The text to scan (or use --file).")] = None,
    stage: Annotated[
        str, typer.Option("--stage", help="input | retrieved | output | external")
    ] = "input",
    file: Annotated[
        Path | None, typer.Option("--file", help="A JSONL file: one object per line.")
    ] = None,
    field: Annotated[str, typer.Option("--field", help="The JSONL field to scan.")] = "text",
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Guard policy YAML (default: built-in).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per item.")] = False,
) -> None:
    """Print each item's action (allow, modify, block), reasons, and text after redaction.

    Exit status 3 when any item is blocked.
    """
    if stage not in STAGES:
        raise InvalidRequest(f"--stage {stage!r} is not one of {', '.join(STAGES)}")
    if (text is None) == (file is None):
        raise InvalidRequest("give either a TEXT argument or --file items.jsonl, not both")
    guards = build_guards(load_policy(policy))
    context = GuardContext(stage)  # type: ignore[arg-type]  # checked against STAGES above
    items = [("1", text)] if text is not None else _read(file, field)  # type: ignore[arg-type]
    blocked = 0
    results = []
    for item_id, item in items:
        verdict = guards.scan(item, context)
        blocked += verdict.blocked
        results.append(verdict_json(item_id, verdict))
        if not as_json:
            _print(item_id, verdict, many=len(items) > 1)
    if as_json:
        print_json(results if file is not None else results[0])
    if blocked:
        raise typer.Exit(EXIT_BLOCKED)


def verdict_json(item_id: str, verdict: Verdict) -> dict[str, Any]:
    return {
        "id": item_id,
        "action": verdict.action,
        "reasons": [
            {"guard": r.guard, "rule": r.rule, "score": r.score, "action": r.action,
             "message": r.message}
            for r in verdict.reasons
        ],
        "text": verdict.text,
    }  # fmt: skip


def _read(path: Path, field: str) -> list[tuple[str, str]]:
    out = []
    for number, record in jsonl_records(path):
        value = record.get(field)
        if not isinstance(value, str):
            raise InvalidRequest(f"{path}:{number} has no string field {field!r}; pick --field")
        out.append((str(record.get("id", number)), value))
    return out


def _print(item_id: str, verdict: Verdict, many: bool) -> None:
    colour = {"allow": typer.colors.GREEN, "modify": typer.colors.YELLOW}
    prefix = f"{item_id}: " if many else ""
    typer.secho(f"{prefix}{verdict.action}", fg=colour.get(verdict.action, typer.colors.RED))
    for r in verdict.reasons:
        typer.echo(f"  {r.guard}/{r.rule} ({r.action}, score {r.score:g}): {r.message}")
    if verdict.action == "modify" or not many:
        typer.echo(f"  text: {verdict.text}")
