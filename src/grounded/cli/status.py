"""`grounded status`: what the index holds and how the last ingestion went."""

from __future__ import annotations

from typing import Annotated

import typer

from grounded.cli.context import print_json, state


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Documents, chunks, vectors, size on disk, embedding model, last run and its errors."""
    info = state(ctx).runtime().existing_store().stats()
    if as_json:
        print_json(info)
        return
    model = info["embedding_model"]
    typer.echo(f"data dir         {info['data_dir']}")
    typer.echo(f"documents        {info['documents']}")
    typer.echo(f"chunks           {info['chunks']}")
    typer.echo(f"vectors          {info['vectors']}")
    typer.echo(f"size on disk     {info['size_bytes'] / 1e6:.1f} MB")
    typer.echo(
        "embedding model  " + (f"{model['id']} ({model['revision']}, {model['dim']} dims)"
                               if model else "none yet")
    )  # fmt: skip
    run = info["last_run"]
    if run is None:
        typer.echo("last run         none")
        return
    stats = run["stats"]
    typer.echo(
        f"last run         #{run['id']} {run['status']} at {run['started_at']} "
        f"({run['collection']} ← {run['source']})"
    )
    if stats:
        typer.echo(
            f"                 {stats.get('added', 0)} added, {stats.get('updated', 0)} updated, "
            f"{stats.get('unchanged', 0)} unchanged, {stats.get('deleted', 0)} deleted, "
            f"{stats.get('failed', 0)} failed"
        )
    for err in run["errors"]:
        typer.echo(f"  error: {err['source']}: {err['reason']}")
