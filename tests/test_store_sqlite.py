from __future__ import annotations

from pathlib import Path

import pytest

from grounded.index.sqlite import SqliteStore
from grounded.testing.store_conformance import StoreConformance


class TestSqliteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> SqliteStore:
        return SqliteStore(tmp_path / "data")
