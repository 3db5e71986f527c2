"""Shared fixtures. Unit tests use the hash embedder; tests marked `model` use the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from grounded.testing.mock_llm_server import MockLLMServer

from tests.helpers import free_port, stop, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = ROOT / "sample-corpus"
SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No GROUNDED_* from the developer's shell, and no stray grounded.yaml in cwd."""
    for name in list(os.environ):
        if name.startswith("GROUNDED_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


# ---------------------------------------------------------------- a real OpenAI-compatible server


@dataclass(frozen=True)
class LlamaServer:
    """`python -m llama_cpp.server` serving the bundled SmolLM2-135M-Instruct GGUF.

    `model` answers /v1/chat/completions; `embedding_model` is the same GGUF with
    mean pooling, answering /v1/embeddings (576 dimensions). The server holds one
    model at a time, so alternating between them reloads it (~0.2 s each switch).
    Its response_format takes only {"type": "json_object", "schema": ...}.
    """

    base_url: str  # "http://127.0.0.1:PORT/v1"
    model: str = "smollm2"
    embedding_model: str = "smollm2-embed"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    from grounded.llm.llamacpp import bundled_gguf

    gguf = str(bundled_gguf())
    port = free_port()
    common = {"model": gguf, "logits_all": False, "verbose": False, "seed": 0}
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {**common, "model_alias": LlamaServer.model, "n_ctx": 2048},
            {
                **common,
                "model_alias": LlamaServer.embedding_model,
                "n_ctx": 512,
                "embedding": True,
                "kv_overrides": ["llama.pooling_type=int:1"],  # mean pooling: one vector a text
            },
        ],
    }
    folder = tmp_path_factory.mktemp("llama-server")
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config))
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        server = LlamaServer(f"http://127.0.0.1:{port}/v1")
        wait_until_answering(proc, f"{server.base_url}/models", log, "llama_cpp.server")
        yield server
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def mock_llm() -> Iterator[MockLLMServer]:
    """One fault-injecting OpenAI/Anthropic server for the session.

    Its state (faults, reply, recorded requests) is shared: call `mock_llm.reset()`
    at the start of a test that uses it.
    """
    from grounded.testing.mock_llm_server import MockLLMServer

    with MockLLMServer() as server:
        yield server


# ---------------------------------------------------------------- a real browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"  # screenshots from browser tests (git-ignored)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these Chromium keeps dialling out.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (`make test` installs it; no browser download).

    Module-scoped: while Playwright's sync API is open it keeps an event loop running in
    the main thread, and every asyncio.run() in a later test module would fail."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ---------------------------------------------------------------- the HTTP service's index


@pytest.fixture(scope="session")
def service_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus as tenant acme, plus one globex document (hash embedder), indexed
    once for the service tests; each copies it (tests.server_support.copy_index)."""
    from tests.server_support import index_sample_corpus

    data = tmp_path_factory.mktemp("service-index") / "data"
    index_sample_corpus(data)
    return data
