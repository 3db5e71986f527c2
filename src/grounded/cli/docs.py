"""`grounded docs list | show ID | delete ID`."""

from __future__ import annotations

from typing import Annotated

import typer

from grounded.cli.context import print_json, split_list, state
from grounded.domain import Principal
from grounded.errors import InvalidRequest
from grounded.views import doc_json

app = typer.Typer(help="List, show and delete documents.", no_args_is_help=True)


def _principal(tenant: str | None, user: str | None, groups: str | None) -> Principal | None:
    if tenant is None:
        if user or groups:
            raise InvalidRequest("--as/--groups need --tenant")
        return None  # operator view: the CLI runs with direct access to the data dir
    return Principal.of(tenant, user, split_list(groups))


TenantOpt = Annotated[str | None, typer.Option(help="Only what this tenant's principal may read.")]
UserOpt = Annotated[str | None, typer.Option("--as", help="User of the principal.")]
GroupsOpt = Annotated[str | None, typer.Option(help="Comma-separated groups.")]
CollectionOpt = Annotated[str | None, typer.Option(help="Collection.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@app.command("list")
def list_documents(
    ctx: typer.Context,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    user: UserOpt = None,
    groups: GroupsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List documents (all of them, or those a principal may read)."""
    docs = (
        state(ctx)
        .runtime()
        .existing_store()
        .list_documents(_principal(tenant, user, groups), collection)
    )
    if as_json:
        print_json([doc_json(d) for d in docs])
        return
    for d in docs:
        acl = ", ".join([*d.acl.allow_users, *(f"@{g}" for g in d.acl.allow_groups)]) or "tenant"
        typer.echo(f"{d.collection}:{d.doc_id}\t{d.title}\t[{d.acl.tenant}: {acl}]")
    typer.echo(f"{len(docs)} documents", err=True)


@app.command("show")
def show(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(help="Document id (see `docs list`).")],
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    user: UserOpt = None,
    groups: GroupsOpt = None,
    chunks: Annotated[bool, typer.Option(help="Also list its chunks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one document, its ACL and (with --chunks) its chunks."""
    store = state(ctx).runtime().existing_store()
    doc = store.get_document(doc_id, _principal(tenant, user, groups), collection)
    if doc is None:
        raise InvalidRequest(f"no document {doc_id!r}; `grounded docs list` shows the ids")
    parts = store.chunks_of(doc) if chunks else []
    if as_json:
        out = doc_json(doc) | {"text": doc.text}
        if chunks:
            out["chunks"] = [
                {"ordinal": c.ordinal, "heading": c.heading, "page": c.page,
                 "start": c.start, "end": c.end, "tokens": c.token_count, "text": c.text}
                for c in parts
            ]  # fmt: skip
        print_json(out)
        return
    for key, value in doc_json(doc).items():
        typer.echo(f"{key:13} {value}")
    for c in parts:
        typer.echo(f"\n#{c.ordinal} [{c.heading or '—'}] p.{c.page or '—'} {c.start}–{c.end}")
        typer.echo(c.text)


@app.command("delete")
def delete(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(help="Document id.")],
    collection: CollectionOpt = None,
) -> None:
    """Delete a document with its chunks and vectors."""
    store = state(ctx).runtime().existing_store()
    doc = store.get_document(doc_id, None, collection)
    if doc is None:
        raise InvalidRequest(f"no document {doc_id!r}; `grounded docs list` shows the ids")
    store.delete(doc.collection, [doc.doc_id])
    typer.echo(f"deleted {doc.collection}:{doc.doc_id}")
