"""Helpers shared by the integration tests: the CLI as a user runs it, and a hash runtime."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from grounded.config import load_settings
from grounded.domain import Acl
from grounded.index.sqlite import DB_FILE
from grounded.ingest.pipeline import IngestReport, Progress
from grounded.ingest.sources import open_source
from grounded.runtime import Runtime

GROUNDED = Path(sys.executable).with_name("grounded")
SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "sample-corpus"


def cli_env(**extra: str) -> dict[str, str]:
    """The caller's environment without GROUNDED_*, with the hash embedder, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDED_")}
    env["GROUNDED_EMBEDDER__KIND"] = "hash"
    env.update(extra)
    return env


def grounded(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `grounded` command, as a user would, and capture its output."""
    return subprocess.run(
        [str(GROUNDED), *map(str, args)],
        cwd=cwd,
        env=env if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    """stdout of a command that must have succeeded, parsed as JSON."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)


def hash_runtime(data_dir: Path) -> Runtime:
    """The runtime a CLI run with GROUNDED_EMBEDDER__KIND=hash would build, in-process."""
    return Runtime(load_settings(data_dir=data_dir, embedder={"kind": "hash"}))


def ingest(
    rt: Runtime,
    path: Path,
    *,
    collection: str = "c",
    tenant: str = "acme",
    progress: Progress | None = None,
) -> IngestReport:
    """One ingest run of `path`, as `grounded ingest PATH --collection C --tenant T` does it."""
    source = open_source(path, "auto", max_file_bytes=10**8)
    return rt.ingestor(progress).run(source, collection=collection, acl=Acl.of(tenant))


def orphan_counts(data_dir: Path) -> dict[str, int]:
    """Rows whose parent is missing, counted straight from the file (not via the store)."""
    db = sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True)
    try:
        one = db.execute
        return {
            "chunks without document": one(
                "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)"
            ).fetchone()[0],
            "vectors without chunk": one(
                "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)"
            ).fetchone()[0],
        }
    finally:
        db.close()


# ---------------------------------------------------------------- servers the tests start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, log: Path, what: str, timeout: float = 120
) -> None:
    """Poll `url` until it answers 200; fail with the end of the server's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} did not answer within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
