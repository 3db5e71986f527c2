"""`grounded ingest PATH`: add, update and remove documents incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from grounded.cli.context import print_json, split_list, state
from grounded.domain import Acl
from grounded.errors import InvalidRequest


class RichProgress:
    """Files, chunks and embeddings per second, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("ingesting", total=None, files=0, chunks=0, rate=0.0)
        self._files = self._chunks = self._embedded = 0

    def item_done(self, doc_id: str, outcome: str, chunks: int) -> None:
        self._files += 1
        self._chunks += chunks
        self._update()

    def embedded(self, texts: int) -> None:
        self._embedded += texts
        self._update()

    def _update(self) -> None:
        elapsed = self._progress.tasks[0].elapsed or 1e-9
        self._progress.update(
            self._task, files=self._files, chunks=self._chunks, rate=self._embedded / elapsed
        )


def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A folder, a file, or a JSONL corpus.")],
    collection: Annotated[str | None, typer.Option(help="Collection to ingest into.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant that owns these documents.")] = None,
    allow_users: Annotated[
        str | None, typer.Option(help="Comma-separated users who may read (default: whole tenant).")
    ] = None,
    allow_groups: Annotated[
        str | None, typer.Option(help="Comma-separated groups who may read.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="auto | files | jsonl | beir (a .jsonl path is jsonl)."),
    ] = "auto",
    strict: Annotated[bool, typer.Option(help="Exit non-zero if any document failed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Ingest documents: unchanged ones are skipped, changed ones replaced, vanished ones removed.

    Per-document ACLs override the run's: front matter or JSONL keys tenant, allow_users,
    allow_groups, or a sidecar file <file>.acl.yaml with the same keys.
    """
    if fmt not in ("auto", "files", "jsonl", "beir"):
        raise InvalidRequest(f"--format {fmt!r} is not one of auto, files, jsonl, beir")
    st = state(ctx)
    settings = st.settings()
    from grounded.ingest.sources import check_collection, open_source  # heavy: only ingest pays

    name = check_collection(collection or settings.ingest.collection)
    acl = Acl.of(
        tenant or settings.ingest.tenant, split_list(allow_users), split_list(allow_groups)
    )
    source_fmt: Literal["auto", "files", "jsonl", "beir"] = fmt  # type: ignore[assignment]
    source = open_source(
        path, source_fmt, max_file_bytes=int(settings.ingest.max_file_mb * 1_000_000)
    )
    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]} files · {task.fields[chunks]} chunks"),
        TextColumn("· {task.fields[rate]:.1f} embeddings/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        report = st.runtime().ingestor(RichProgress(bar)).run(source, collection=name, acl=acl)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report.as_dict())
    if not report.ingested_anything and report.failed:
        raise typer.Exit(1)
    if strict and report.failed:
        raise typer.Exit(1)


def _print_report(r: dict[str, Any]) -> None:
    typer.echo(
        f"run {r['run_id']}: {r['added']} added, {r['updated']} updated, "
        f"{r['unchanged']} unchanged, {r['deleted']} deleted, {r['failed']} failed · "
        f"{r['chunks_written']} chunks written, {r['embedded']} embedded, "
        f"{r['cache_hits']} from cache · {r['seconds']}s"
    )
    for err in r["errors"]:
        typer.secho(f"failed {err['source']}: {err['reason']}", err=True, fg=typer.colors.RED)
    if r["skipped"]:
        names = ", ".join(s["path"] for s in r["skipped"][:5])
        more = "…" if len(r["skipped"]) > 5 else ""
        typer.echo(f"skipped {len(r['skipped'])} files of unsupported types: {names}{more}")
