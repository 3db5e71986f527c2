"""Shared fixtures. Unit tests use the hash embedder; tests marked `model` use the real one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
