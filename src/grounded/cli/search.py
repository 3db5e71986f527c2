"""`grounded search`: hybrid search as a principal, one query or a BEIR queries file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from grounded.cli.context import principal_from, print_json, split_list, state
from grounded.domain import (
    HEADING_SEPARATOR,
    Principal,
    SearchFilters,
    SearchResult,
    context_path,
)
from grounded.errors import InvalidRequest
from grounded.retrieval.hybrid import HybridRetriever
from grounded.views import result_json


def _filters(collections: str | None, where: list[str] | None) -> SearchFilters:
    metadata: dict[str, str] = {}
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--where {item!r} must look like key=value")
        metadata[key.strip()] = value.strip()
    return SearchFilters(collections=tuple(split_list(collections)), metadata=metadata)


def _show(results: list[SearchResult], explain: bool) -> None:
    console = Console()
    if not results:
        console.print("no results")
        return
    for r in results:
        where = HEADING_SEPARATOR.join(context_path(r.document.title, r.chunk.heading_path))
        page = f" p.{r.chunk.page}" if r.chunk.page else ""
        console.print(f"[bold]{r.rank}. {r.document.doc_id}[/bold]{page}  {where}", highlight=False)
        text = " ".join(r.chunk.text.split())
        snippet = text if len(text) <= 240 else text[:240] + "…"
        console.print(f"   {snippet}", highlight=False, markup=False)
        if explain:
            table = Table(show_header=True, box=None, padding=(0, 2))
            for col in ("bm25 rank", "bm25", "dense rank", "dense", "fused", "chars"):
                table.add_column(col)
            table.add_row(
                _fmt(r.bm25_rank), _fmt(r.bm25_score), _fmt(r.dense_rank), _fmt(r.dense_score),
                f"{r.score:.5f}", f"{r.chunk.start}–{r.chunk.end}",
            )  # fmt: skip
            console.print(table)


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to search for.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant of the principal.")] = None,
    user: Annotated[str | None, typer.Option("--as", help="User of the principal.")] = None,
    groups: Annotated[str | None, typer.Option(help="Comma-separated groups.")] = None,
    k: Annotated[int, typer.Option(help="How many results.")] = 10,
    explain: Annotated[
        bool, typer.Option(help="Show BM25/dense ranks and scores, fused score, offsets.")
    ] = False,
    mode: Annotated[str, typer.Option(help="hybrid | bm25 | dense")] = "hybrid",
    collection: Annotated[
        str | None, typer.Option(help="Comma-separated collections to search.")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="Metadata filter key=value (repeatable).")
    ] = None,
    queries: Annotated[
        Path | None, typer.Option(help="BEIR queries.jsonl: search each, write --run-out.")
    ] = None,
    run_out: Annotated[Path | None, typer.Option(help="TREC run file to write.")] = None,
    tag: Annotated[str, typer.Option(help="Run tag in the TREC file.")] = "grounded",
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Search as a principal (--tenant, --as, --groups); the ACL is applied inside the store."""
    principal = principal_from(tenant, user, groups)
    filters = _filters(collection, where)
    retriever = state(ctx).runtime().retriever
    if queries is not None:
        if run_out is None:
            raise InvalidRequest("--queries needs --run-out FILE for the TREC run")
        count = write_trec_run(retriever, queries, run_out, principal, filters, k, mode, tag)
        typer.echo(f"wrote {count} queries to {run_out}")
        return
    if query is None:
        raise InvalidRequest("give a QUERY, or --queries FILE --run-out FILE")
    response = retriever.search(query, principal, k=k, filters=filters, mode=mode)
    if as_json:
        print_json(
            {
                "query": query,
                "principal": {"tenant": principal.tenant, "user": principal.user,
                              "groups": sorted(principal.groups)},
                "results": [result_json(r, explain) for r in response.results],
                "timings_ms": vars(response.timings),
            }
        )  # fmt: skip
    else:
        _show(response.results, explain)


def read_queries(path: Path) -> list[tuple[str, str]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                out.append((str(record["_id"]), str(record["text"])))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InvalidRequest(
                    f'{path}:{number}: expected a BEIR query {{"_id": ..., "text": ...}}'
                ) from exc
    return out


def write_trec_run(
    retriever: HybridRetriever,
    queries: Path,
    out: Path,
    principal: Principal,
    filters: SearchFilters,
    k: int,
    mode: str,
    tag: str,
) -> int:
    """`qid Q0 docid rank score tag`, one line per document (its best chunk), best first."""
    items = read_queries(queries)
    with out.open("w", encoding="utf-8") as fh:
        for qid, text in items:
            ranked = retriever.best_per_document(text, principal, k=k, filters=filters, mode=mode)
            for rank, (doc_id, score) in enumerate(ranked, start=1):
                fh.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n")
    return len(items)
