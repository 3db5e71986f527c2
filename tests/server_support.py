"""Shared set-up for the HTTP service tests: an indexed sample corpus, keys, and apps.

The in-process tests drive the ASGI app; `served()` starts a real `grounded serve`
on a loopback port, as a user would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounded.config import Settings, load_settings
from grounded.llm.gateway import Gateway
from grounded.runtime import Runtime
from grounded.server.app import build_services, create_app
from grounded.server.auth import SERVICE_DB, KeyStore
from grounded.testing.scripted import ScriptedChatModel
from tests.helpers import (
    GROUNDED,
    SAMPLE_CORPUS,
    cli_env,
    free_port,
    ingest,
    stop,
    wait_until_answering,
)

SCRIPTED_MODELS = {
    "scripted": {"provider": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"},
}
GENERATIVE = {"answer_mode": "generative", "route": "scripted"}


def index_sample_corpus(data: Path) -> None:
    """The sample corpus as tenant acme (hash embedder), plus one globex document."""
    rt = Runtime(load_settings(data_dir=data, embedder={"kind": "hash"}))
    ingest(rt, SAMPLE_CORPUS, collection="handbook", tenant="acme")
    globex = data.parent / f"{data.name}-globex"
    globex.mkdir(exist_ok=True)
    (globex / "merger.md").write_text(
        "# Project Nightjar\n\nGlobex will acquire Initech for 3.1 billion euros in May.\n"
    )
    ingest(rt, globex, collection="globex-board", tenant="globex")
    rt.close()


def copy_index(template: Path, to: Path) -> Path:
    shutil.copytree(template, to)
    return to


def settings_for(data: Path, **server: Any) -> Settings:
    return load_settings(
        data_dir=data,
        embedder={"kind": "hash"},
        models=SCRIPTED_MODELS,
        gateway={"cache": {"enabled": False}},
        apps={"gen": GENERATIVE},
        server={"evals_dir": str(data / "runs"), **server},
    )


@dataclass
class Keys:
    alice: str  # acme, staff
    bob: str  # acme, staff
    dana: str  # acme, hr
    admin: str  # acme admin
    globex: str  # another tenant


def make_keys(data: Path, **limits: Any) -> Keys:
    store = KeyStore(data / SERVICE_DB)
    try:

        def key(tenant: str, user: str, groups: list[str], **kw: Any) -> str:
            return store.create(tenant, user, groups, **kw)[0]

        return Keys(
            alice=key("acme", "alice@acme.example", ["staff"], **limits),
            bob=key("acme", "bob@acme.example", ["staff"]),
            dana=key("acme", "dana@acme.example", ["staff", "hr"]),
            admin=key("acme", "ops@acme.example", ["staff"], admin=True),
            globex=key("globex", "gina@globex.example", ["staff"]),
        )
    finally:
        store.close()


def app_with(settings: Settings, model: ScriptedChatModel | None = None) -> Any:
    """The ASGI app; generative apps answer through `model` (a scripted stand-in)."""
    runtime = Runtime(settings)
    runtime.__dict__["gateway"] = Gateway(
        settings, providers={"scripted": model or ScriptedChatModel()}
    )
    return create_app(settings, build_services(settings, runtime))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def served(
    data: Path, *args: str, env: dict[str, str] | None = None, config: Path | None = None
) -> Iterator[str]:
    """`grounded serve` as a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    settings = ["--config", str(config)] if config else []
    log = data.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(GROUNDED),
                *settings,
                "--data-dir",
                str(data),
                "serve",
                "--port",
                str(port),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or cli_env(),
            cwd=data.parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, f"{url}/healthz", log, "grounded serve", timeout=60)
        yield url
    finally:
        stop(proc)
