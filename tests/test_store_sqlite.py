from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grounded.domain import Acl, Principal, SearchFilters
from grounded.errors import StoreError
from grounded.index.schema import MIGRATIONS
from grounded.index.sqlite import DB_FILE, SqliteStore
from grounded.testing.store_conformance import EMBEDDER, StoreConformance, put


class TestSqliteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> SqliteStore:
        return SqliteStore(tmp_path / "data")


def test_upgrading_a_version_1_index_keeps_everything(tmp_path: Path) -> None:
    """A store written before vectors recorded their model opens, migrates, and loses nothing."""
    data = tmp_path / "data"
    store = SqliteStore(data)
    put(store, "d", ["alpha one", "beta two"], Acl.of("acme"))
    store.close()
    db = sqlite3.connect(data / DB_FILE)
    with db:  # rewind to schema 1: no embedding_models table, no vectors.model_id
        db.execute("DROP TABLE embedding_models")
        db.execute("ALTER TABLE vectors DROP COLUMN model_id")
        db.execute("PRAGMA user_version = 1")
    db.close()
    store = SqliteStore(data)
    assert store.stats()["vectors"] == 2
    assert store.vector_models() == {(EMBEDDER.model_id, EMBEDDER.revision): 2}
    assert store.consistency_problems() == []
    assert len(store.keyword_search("alpha", Principal.of("acme"), SearchFilters(), 5)) == 1


def test_an_index_from_a_newer_grounded_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer grounded"):
        SqliteStore(tmp_path)
