"""Shared CLI state: settings and the runtime, built on first use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from grounded.config import Settings, load_settings
from grounded.domain import Principal
from grounded.errors import InvalidRequest
from grounded.runtime import Runtime


@dataclass
class State:
    config: Path | None
    data_dir: Path | None
    _runtime: Runtime | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        return self.runtime().settings

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(load_settings(self.config, data_dir=self.data_dir))
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def split_list(value: str | None) -> list[str]:
    """`a,b , c` → ["a", "b", "c"]; None or "" → []."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def principal_from(tenant: str | None, user: str | None, groups: str | None) -> Principal:
    if not tenant:
        raise InvalidRequest("--tenant is required to search as a principal (e.g. --tenant acme)")
    return Principal.of(tenant, user, split_list(groups))


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def jsonl_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InvalidRequest(f"{path}:{number}: not a JSON object")
        out.append((number, record))
    return out
