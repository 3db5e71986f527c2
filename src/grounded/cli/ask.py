"""`grounded ask`: a grounded, verified answer with citations, as a principal, through an app."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from grounded.cli.context import principal_from, print_json, state
from grounded.domain import HEADING_SEPARATOR, Principal
from grounded.features.answer import AskResult, ask_json
from grounded.features.ask import AskPipeline

EXIT_BLOCKED = 3


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant to ask as.")] = None,
    user: Annotated[str | None, typer.Option("--as", help="User to ask as.")] = None,
    groups: Annotated[
        str | None, typer.Option("--groups", help="The user's groups, comma-separated.")
    ] = None,
    app: Annotated[str, typer.Option("--app", help="App from grounded.yaml.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print verified sentences as they are ready.")
    ] = False,
) -> None:
    """Answer from the documents the principal may read, citing each claim, or refuse.

    Exit status: 0 answered or refused, 3 blocked by the guard policy, 1-2 errors.
    """
    principal = principal_from(tenant, user, groups)
    pipeline = state(ctx).runtime().asker
    if stream and not as_json:
        result = asyncio.run(_stream(pipeline, question, principal, app))
    else:
        result = asyncio.run(pipeline.ask(question, principal, app))
        if as_json:
            print_json(ask_json(result))
        else:
            _print(result)
    if result.status == "blocked":
        raise typer.Exit(EXIT_BLOCKED)


async def _stream(
    pipeline: AskPipeline, question: str, principal: Principal, app: str
) -> AskResult:
    shown: list[str] = []
    result = None
    async for event in pipeline.stream(question, principal, app):
        if event.result is not None:
            result = event.result
        else:
            typer.echo(("" if not shown else " ") + event.text, nl=False)
            shown.append(event.text)
    assert result is not None
    if shown:
        typer.echo()
    if " ".join(shown) != result.answer:
        if shown:
            typer.secho("(replaced: the streamed answer did not pass verification)", dim=True)
        _print(result)
    else:
        _print(result, with_answer=False)
    return result


def _print(result: AskResult, with_answer: bool = True) -> None:
    if result.status == "blocked":
        typer.secho(f"blocked: {result.message}", fg=typer.colors.RED, err=True)
        return
    if with_answer:
        typer.echo(result.answer)
    if result.citations:
        typer.echo()
        for c in result.citations:
            doc = c.source.document
            where = HEADING_SEPARATOR.join(c.source.heading_path) or doc.title
            page = f", p. {c.source.page}" if c.source.page else ""
            typer.echo(f"[{c.marker}] {where} ({doc.source_uri}{page})")
            typer.secho(f"     “{_short(c.quote)}”", dim=True)
    supported = sum(1 for v in result.verification if v.supported and v.factual)
    factual = sum(1 for v in result.verification if v.factual)
    notes = [{"answered_extractive": "answered (extractive)"}.get(result.status, result.status)]
    if factual:
        notes.append(f"{supported}/{factual} sentences verified")
    if result.model and result.model != "extractive":
        notes.append(f"model {result.model}")
    notes.append(f"{result.latency_ms:.0f} ms")
    typer.secho("\n" + " · ".join(notes), dim=True)
    if result.message:
        typer.secho(result.message, dim=True)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
