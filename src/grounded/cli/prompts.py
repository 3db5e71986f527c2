"""`grounded prompts list | show REF | diff REF REF`: the versioned prompt files."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grounded.cli.context import print_json, state
from grounded.errors import ConfigError
from grounded.prompts import PromptFile, PromptRegistry

app = typer.Typer(
    help="Versioned prompt files: list them, show one, diff two versions.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
RefArg = Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@latest, e.g. answer@1.")]


def _registry(ctx: typer.Context) -> PromptRegistry:
    return PromptRegistry.from_settings(state(ctx).settings())


def _summary(registry: PromptRegistry, name: str) -> dict[str, Any]:
    """One prompt's row; every version is loaded, so a broken one is reported here."""
    versions = registry.versions(name)
    errors: list[str] = []
    loaded: dict[int, PromptFile] = {}
    for version in versions:
        try:
            loaded[version] = registry.get(f"{name}@{version}")
        except ConfigError as exc:
            errors.append(str(exc))
    latest = loaded.get(versions[-1])
    return {
        "name": name,
        "versions": versions,
        "latest": versions[-1],
        "description": latest.description if latest else None,
        "path": str(registry.path(name, versions[-1])),
        "errors": errors,
    }


@app.command("list")
def list_prompts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every prompt: its versions and the latest one's description.

    Loads every version, and exits 2 after the listing if any does not load.
    """
    registry = _registry(ctx)
    rows = [_summary(registry, name) for name in registry.names()]
    if as_json:
        print_json({"dirs": [str(d) for d in registry.dirs], "prompts": rows})
    else:
        table = Table("prompt", "versions", "latest", "description")
        for r in rows:
            description = r["description"] or "(does not load; see below)"
            versions = ", ".join(map(str, r["versions"]))
            table.add_row(r["name"], versions, f"{r['name']}@{r['latest']}", description)
        Console(width=160).print(table)
    errors = [e for r in rows for e in r["errors"]]
    for error in errors:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
    if errors:
        raise typer.Exit(ConfigError.exit_code)


def prompt_json(prompt: PromptFile) -> dict[str, Any]:
    return {
        "ref": prompt.ref,
        "name": prompt.name,
        "version": prompt.version,
        "path": str(prompt.path),
        "sha256": prompt.sha256,
        "description": prompt.description,
        "changelog": prompt.changelog,
        "variables": list(prompt.variables),
        "params": prompt.params.chat_kwargs(),
        "system": prompt.system,
        "user": prompt.user,
    }


@app.command("show")
def show(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """One version's metadata and templates (NAME alone shows the latest)."""
    prompt = _registry(ctx).get(ref)
    if as_json:
        print_json(prompt_json(prompt))
        return
    params = ", ".join(f"{k}={v!r}" for k, v in prompt.params.chat_kwargs().items())
    for label, value in (
        ("ref", prompt.ref),
        ("path", prompt.path),
        ("sha256", prompt.sha256),
        ("description", prompt.description.strip()),
        ("changelog", prompt.changelog.strip()),
        ("variables", ", ".join(prompt.variables) or "(none)"),
        ("params", params or "(model defaults)"),
    ):
        typer.echo(f"{label + ':':<13}{value}")
    for field in ("system", "user"):
        typer.echo(f"\n--- {field} ---")
        typer.echo(getattr(prompt, field), nl=not getattr(prompt, field).endswith("\n"))


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The earlier version, e.g. answer@1.")],
    new: Annotated[str, typer.Argument(help="The later version, e.g. answer@2.")],
) -> None:
    """Unified diff of two prompt files, labelled NAME@VERSION."""
    registry = _registry(ctx)
    a, b = registry.get(old), registry.get(new)
    lines = difflib.unified_diff(_lines(a.text), _lines(b.text), fromfile=a.ref, tofile=b.ref)
    out = "".join(lines)
    if not out:
        typer.echo(f"{a.ref} and {b.ref} are identical")
        return
    typer.echo(out, nl=False)


def _lines(text: str) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(True)]
