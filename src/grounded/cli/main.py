"""The `grounded` command line.

Expected failures (every `GroundedError`) print one line on stderr and exit
non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from grounded import __version__
from grounded.cli import ask, chat, docs, guard, ingest, models, prompts, search, serve, status
from grounded.cli import eval as eval_cli
from grounded.cli import keys as keys_cli
from grounded.cli.context import State
from grounded.errors import GroundedError

app = typer.Typer(
    name="grounded",
    help=(
        "Ingest documents with ACLs, search them as a principal, ask for grounded answers "
        "with verified citations, call LLMs through the gateway, and evaluate apps on golden "
        "sets. See README.md."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("ingest")(ingest.ingest)
app.command("search")(search.search)
app.command("status")(status.status)
app.add_typer(docs.app, name="docs")
app.add_typer(models.app, name="models")
app.command("chat")(chat.chat)
app.command("ask")(ask.ask)
app.add_typer(guard.app, name="guard")
app.add_typer(prompts.app, name="prompts")
app.add_typer(eval_cli.app, name="eval")
app.add_typer(keys_cli.app, name="keys")
app.command("serve")(serve.serve)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"grounded {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where all state lives (env GROUNDED_DATA_DIR; default ./.grounded).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file (default ./grounded.yaml if present)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    ctx.obj = State(config=config, data_dir=data_dir)
    ctx.call_on_close(ctx.obj.close)


def run() -> None:
    try:
        app()
    except GroundedError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
