"""`grounded keys create | list | revoke`: API keys for `grounded serve`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

import typer

from grounded.cli.context import print_json, split_list, state
from grounded.server.auth import SERVICE_DB, KeyInfo, KeyStore

app = typer.Typer(
    help="Create, list and revoke API keys for `grounded serve`.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
COLUMNS = ("id", "tenant", "user", "groups", "role", "rate", "tokens", "created", "revoked")


@contextmanager
def _keys(ctx: typer.Context) -> Iterator[KeyStore]:
    store = KeyStore(state(ctx).settings().data_dir / SERVICE_DB)
    try:
        yield store
    finally:
        store.close()


def key_json(info: KeyInfo) -> dict[str, Any]:
    return asdict(info) | {"groups": list(info.groups)}


def _row(info: KeyInfo) -> tuple[str, ...]:
    role = "admin" if info.admin else "user"
    groups = ",".join(info.groups) or "-"
    return (info.key_id, info.tenant, info.user or "-", groups, role,
            info.rate or "-", info.tokens or "-", info.created, info.revoked or "-")  # fmt: skip


@app.command("create")
def create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="The tenant whose documents the key may read.")],
    user: Annotated[
        str | None, typer.Option("--user", "--as", help="The user the key acts as.")
    ] = None,
    groups: Annotated[str | None, typer.Option(help="Comma-separated groups.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Tenant-wide admin role.")] = False,
    rate: Annotated[str | None, typer.Option(help="Requests allowed, e.g. 60/min.")] = None,
    tokens: Annotated[
        str | None, typer.Option(help="Model tokens allowed per UTC day, e.g. 200000/day.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it. It is shown this once: only a hash of it is stored."""
    with _keys(ctx) as keys:
        key, info = keys.create(
            tenant, user, split_list(groups), admin=admin, rate=rate, tokens=tokens
        )
    if as_json:
        print_json({"key": key} | key_json(info))
        return
    typer.echo(key)
    _, tenant_, user_, groups_, role, rate_, tokens_, *_ = _row(info)
    typer.echo(
        f"key {info.key_id}: tenant {tenant_}, user {user_}, groups {groups_}, role {role}, "
        f"rate {rate_}, tokens {tokens_}",
        err=True,
    )
    typer.echo(
        "This key cannot be shown again: store it now. If it is lost, revoke it "
        f"(`grounded keys revoke {info.key_id}`) and create another.",
        err=True,
    )


@app.command("list")
def list_keys(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (never their secrets), revoked ones included."""
    with _keys(ctx) as keys:
        infos = keys.list(tenant)
    if as_json:
        print_json([key_json(i) for i in infos])
        return
    rows = [COLUMNS, *(_row(i) for i in infos)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS))]
    for r in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"{len(infos)} keys", err=True)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `grounded keys list`).")],
) -> None:
    """Revoke a key: every worker refuses it from its next request."""
    with _keys(ctx) as keys:
        info = keys.revoke(key_id)
    typer.echo(
        f"revoked {info.key_id} (tenant {info.tenant}, user {info.user or '-'}) at {info.revoked}"
    )
