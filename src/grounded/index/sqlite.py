"""The embedded store: SQLite (WAL) is the system of record, FTS5 gives BM25.

Where the ACL filter runs: `_ALLOWED` below is a CTE that every search and
fetch query starts with. It selects the ACL rows a principal may read (same
tenant, and open or naming their user or one of their groups), and the query
keeps only chunks whose `acl_id` is in it, *before* ranking and LIMIT. The
dense side takes the same allowed ACL ids from the same SQL and masks the
matrix with them before taking the top k.

Writes are atomic per document: one `BEGIN IMMEDIATE` transaction replaces a
document's row, chunks, FTS entries and vectors, and bumps `generation`. A
SIGKILL at any moment leaves each document fully old or fully new.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from grounded.domain import (
    HEADING_SEPARATOR,
    Acl,
    Chunk,
    Document,
    Hit,
    Principal,
    SearchFilters,
)
from grounded.errors import EmbeddingModelMismatch, StoreError
from grounded.index import sqlite_health as health
from grounded.index.ann import AnnIndex
from grounded.index.bm25 import Bm25Index
from grounded.index.fts import build_match_query
from grounded.index.schema import MIGRATIONS, migrate
from grounded.index.vectors import VectorMatrix, load_matrix
from grounded.ports import Vectors

DB_FILE = "index.sqlite"
SNAPSHOT_FILE = "vectors.snapshot.npz"
ANN_FILE = "vectors.hnsw"
BM25_FILE = "bm25.snapshot.npz"

_ALLOWED = """
WITH allowed(acl_id) AS (
    SELECT id FROM acls WHERE tenant = :tenant AND (is_open = 1 OR id IN (
        SELECT acl_id FROM acl_members
        WHERE (kind = 'user' AND value = :user)
           OR (kind = 'group' AND value IN (SELECT value FROM json_each(:groups)))))
)
"""

_CHUNK_COLUMNS = (
    "c.id, c.ordinal, c.text, c.start_offset, c.end_offset, c.heading, c.page, c.token_count"
)
_DOC_COLUMNS = (
    "d.doc_id, d.collection, d.source_uri, d.title, d.content_hash, d.metadata, a.tenant, d.acl_id"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _principal_params(principal: Principal) -> dict[str, Any]:
    return {
        "tenant": principal.tenant,
        "user": principal.user or "",
        "groups": json.dumps(sorted(principal.groups)),
    }


class SqliteStore:
    """Implements `DocumentStore`, `SearchIndex` and `Catalog` on one SQLite file."""

    def __init__(
        self,
        data_dir: Path,
        *,
        busy_timeout_ms: int = 30_000,
        ann_min_chunks: int = 250_000,
        bm25_min_chunks: int = 0,
    ) -> None:
        self.data_dir = data_dir
        self.ann_min_chunks = ann_min_chunks
        self.bm25_min_chunks = bm25_min_chunks
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                data_dir / DB_FILE, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{data_dir / DB_FILE} was written by a newer grounded (schema {version}); "
                    "upgrade grounded to open it"
                )
            migrate(self._db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the index in {data_dir}: {exc}") from exc
        self._lock = threading.RLock()
        self._matrix: VectorMatrix | None = None
        self._ann: AnnIndex | None = None
        self._bm25: Bm25Index | None = None
        self._bm25_generation = -1
        self._acl_cache: dict[str, int] = {}
        self._acl_members_cache: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._model_row_id: int | None = None

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self, *, searchable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; `searchable` ones bump the generation derived indexes check.

        Run bookkeeping changes nothing a search sees: it leaves the generation (and so
        the vector snapshot and the BM25 index built at the end of a run) current.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                if searchable:
                    self._db.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                        "WHERE key = 'generation'"
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._acl_cache.clear()
                self._acl_members_cache.clear()
                raise

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    # -- embedding model binding ----------------------------------------------------------

    def embedding_model(self) -> tuple[str, str, int] | None:
        model = self._meta("embed_model")
        if model is None:
            return None
        return model, self._meta("embed_revision") or "", int(self._meta("embed_dim") or 0)

    def bind_embedding_model(self, model_id: str, revision: str, dim: int) -> None:
        """Record the index's embedding model, or refuse one that differs from it."""
        current = self.embedding_model()
        if current is None:
            with self._write() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("embed_model", model_id),
                        ("embed_revision", revision),
                        ("embed_dim", str(dim)),
                    ],
                )
                db.execute(
                    "INSERT OR IGNORE INTO embedding_models (name, revision, dim) VALUES (?, ?, ?)",
                    (model_id, revision, dim),
                )
            return
        if current[:2] != (model_id, revision):
            raise EmbeddingModelMismatch(f"{current[0]}@{current[1]}", f"{model_id}@{revision}")

    def _model_row(self, db: sqlite3.Connection) -> int:
        """The `embedding_models` row of the bound model, recorded with every vector."""
        if self._model_row_id is None:
            row = db.execute(
                "SELECT e.id FROM embedding_models e JOIN meta m ON m.key = 'embed_model'"
                " JOIN meta r ON r.key = 'embed_revision'"
                " WHERE e.name = m.value AND e.revision = r.value"
            ).fetchone()
            if row is None:
                raise StoreError("no embedding model is bound; call bind_embedding_model() first")
            self._model_row_id = int(row[0])
        return self._model_row_id

    # -- writes ---------------------------------------------------------------------------

    def fingerprints(self, collection: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT doc_id, fingerprint FROM documents WHERE collection = ?", (collection,)
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def _acl_id(self, db: sqlite3.Connection, acl: Acl) -> int:
        key = acl.key()
        if key in self._acl_cache:
            return self._acl_cache[key]
        row = db.execute("SELECT id FROM acls WHERE key = ?", (key,)).fetchone()
        if row is None:
            cur = db.execute(
                "INSERT INTO acls (key, tenant, is_open) VALUES (?, ?, ?)",
                (key, acl.tenant, int(acl.is_open)),
            )
            acl_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO acl_members (acl_id, kind, value) VALUES (?, ?, ?)",
                [(acl_id, "user", u) for u in acl.allow_users]
                + [(acl_id, "group", g) for g in acl.allow_groups],
            )
        else:
            acl_id = int(row[0])
        self._acl_cache[key] = acl_id
        return acl_id

    def upsert(
        self,
        document: Document,
        chunks: Sequence[Chunk],
        vectors: Vectors,
        fingerprint: str,
        *,
        source_root: str = "",
        run_id: int | None = None,
    ) -> None:
        if len(chunks) != len(vectors):
            raise StoreError(f"{document.key}: {len(chunks)} chunks but {len(vectors)} vectors")
        with self._write() as db:
            self._delete_rows(db, document.collection, [document.doc_id])
            acl_id = self._acl_id(db, document.acl)
            model_row = self._model_row(db)
            cur = db.execute(
                "INSERT INTO documents (collection, doc_id, tenant, acl_id, source_root,"
                " source_uri, title, content_hash, fingerprint, metadata, text, updated_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document.collection, document.doc_id, document.acl.tenant, acl_id, source_root,
                    document.source_uri, document.title, document.content_hash, fingerprint,
                    json.dumps(dict(document.metadata), default=str), document.text, _now(), run_id,
                ),
            )  # fmt: skip
            doc_row = int(cur.lastrowid or 0)
            for chunk, vector in zip(chunks, vectors, strict=True):
                cur = db.execute(
                    "INSERT INTO chunks (document_id, ordinal, tenant, acl_id, collection, title,"
                    " heading, text, page, start_offset, end_offset, token_count)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc_row, chunk.ordinal, document.acl.tenant, acl_id, document.collection,
                        document.title, chunk.heading, chunk.text, chunk.page, chunk.start,
                        chunk.end, chunk.token_count,
                    ),
                )  # fmt: skip
                chunk_row = int(cur.lastrowid or 0)
                db.execute(
                    "INSERT INTO chunks_fts (rowid, title, heading, text) VALUES (?, ?, ?, ?)",
                    (chunk_row, document.title, chunk.heading, chunk.text),
                )
                db.execute(
                    "INSERT INTO vectors (chunk_id, vector, model_id) VALUES (?, ?, ?)",
                    (chunk_row, np.asarray(vector, dtype=np.float32).tobytes(), model_row),
                )

    def _delete_rows(self, db: sqlite3.Connection, collection: str, doc_ids: Sequence[str]) -> int:
        removed = 0
        for doc_id in doc_ids:
            row = db.execute(
                "SELECT id FROM documents WHERE collection = ? AND doc_id = ?", (collection, doc_id)
            ).fetchone()
            if row is None:
                continue
            db.execute(
                "INSERT INTO chunks_fts (chunks_fts, rowid, title, heading, text)"
                " SELECT 'delete', id, title, heading, text FROM chunks WHERE document_id = ?",
                (row[0],),
            )
            db.execute("DELETE FROM documents WHERE id = ?", (row[0],))  # cascades
            removed += 1
        return removed

    def delete(self, collection: str, doc_ids: Sequence[str]) -> int:
        with self._write() as db:
            return self._delete_rows(db, collection, doc_ids)

    def stale_documents(self, collection: str, source_root: str, seen: set[str]) -> list[str]:
        """Documents of this collection from `source_root` that a complete scan did not see."""
        rows = self._db.execute(
            "SELECT doc_id FROM documents WHERE collection = ? AND source_root = ?",
            (collection, source_root),
        )
        return sorted(str(r[0]) for r in rows if str(r[0]) not in seen)

    def begin_run(self, source: str, collection: str) -> int:
        with self._write(searchable=False) as db:
            cur = db.execute(
                "INSERT INTO runs (started_at, status, source, collection) VALUES (?, ?, ?, ?)",
                (_now(), "running", source, collection),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
        self, run_id: int, status: str, stats: dict[str, Any], errors: list[dict[str, str]]
    ) -> None:
        with self._write(searchable=False) as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, stats = ?, errors = ? WHERE id = ?",
                (_now(), status, json.dumps(stats), json.dumps(errors), run_id),
            )

    # -- search ---------------------------------------------------------------------------

    def _filter_sql(self, filters: SearchFilters, params: dict[str, Any]) -> str:
        clauses = []
        if filters.collections:
            params["collections"] = json.dumps(list(filters.collections))
            clauses.append("c.collection IN (SELECT value FROM json_each(:collections))")
        if filters.doc_ids:
            params["doc_ids"] = json.dumps(list(filters.doc_ids))
            clauses.append(
                "c.document_id IN (SELECT id FROM documents"
                " WHERE doc_id IN (SELECT value FROM json_each(:doc_ids)))"
            )
        for i, (key, value) in enumerate(sorted(filters.metadata.items())):
            params[f"mk{i}"], params[f"mv{i}"] = f"$.{json.dumps(key)}", value
            clauses.append(
                f"c.document_id IN (SELECT id FROM documents"
                f" WHERE CAST(json_extract(metadata, :mk{i}) AS TEXT) = :mv{i})"
            )
        return "".join(f" AND {c}" for c in clauses)

    def keyword_search(
        self, query: str, principal: Principal, filters: SearchFilters, k: int
    ) -> list[Hit]:
        with self._lock:
            fast = self._current_bm25()
            if fast is not None:
                allowed, chunk_filter = self._allowed_arrays(principal, filters)
                return fast.search(query, allowed, k, chunk_filter)
        return self._sql_keyword_search(query, principal, filters, k)

    def _sql_keyword_search(
        self, query: str, principal: Principal, filters: SearchFilters, k: int
    ) -> list[Hit]:
        """BM25 ranked by FTS5, with the ACL CTE inside the ranking query."""
        match = build_match_query(query)
        if not match:
            return []
        params: dict[str, Any] = {**_principal_params(principal), "match": match, "k": k}
        sql = (
            _ALLOWED + "SELECT c.id, bm25(chunks_fts, 1.0, 1.0, 1.0) AS s"
            " FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
            " WHERE chunks_fts MATCH :match AND c.acl_id IN (SELECT acl_id FROM allowed)"
            + self._filter_sql(filters, params)
            + " ORDER BY s LIMIT :k"
        )
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Hit(int(r[0]), -float(r[1]), rank) for rank, r in enumerate(rows, start=1)]

    def _allowed_arrays(
        self, principal: Principal, filters: SearchFilters
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
        """The principal's readable ACL ids (the `_ALLOWED` CTE) and the filtered chunk ids."""
        params = _principal_params(principal)
        allowed = np.array(
            [r[0] for r in self._db.execute(_ALLOWED + "SELECT acl_id FROM allowed", params)],
            dtype=np.int64,
        )
        extra = self._filter_sql(filters, params)
        if not extra:
            return allowed, None
        sql = "SELECT c.id FROM chunks c WHERE 1" + extra
        return allowed, np.array([r[0] for r in self._db.execute(sql, params)], dtype=np.int64)

    def vector_search(
        self, vector: Vectors, principal: Principal, filters: SearchFilters, k: int
    ) -> list[Hit]:
        with self._lock:
            allowed, chunk_filter = self._allowed_arrays(principal, filters)
            matrix = self._current_matrix(len(vector))
        query = np.asarray(vector, dtype=np.float32)
        return matrix.search(query, allowed, k, chunk_filter, ann=self._ann)

    def _current_bm25(self) -> Bm25Index | None:
        generation = self.generation()
        if self._bm25_generation != generation:
            self._bm25_generation = generation
            path = self.data_dir / BM25_FILE
            self._bm25 = Bm25Index.load(path, generation)
            if self._bm25 is None and not Bm25Index.current_format(path):
                # Missing, or written by an older version: build it now (an index
                # upgraded in place has no ingest run to do it). A file that is merely
                # behind the generation is another process's run in progress: FTS5
                # answers until that run rebuilds it.
                self._refresh_bm25()
        if self._bm25 is not None and len(self._bm25.chunk_ids) < self.bm25_min_chunks:
            return None  # built under a lower threshold; this store ranks with FTS5
        return self._bm25

    def _current_matrix(self, dim: int) -> VectorMatrix:
        generation = self.generation()
        if self._matrix is None or self._matrix.generation != generation:
            self._db.execute("BEGIN")  # one snapshot of the data for the whole load
            try:
                generation = self.generation()
                self._matrix = load_matrix(self._db, generation, dim, self.data_dir / SNAPSHOT_FILE)
            finally:
                self._db.execute("COMMIT")
            self._ann = None
            if len(self._matrix.chunk_ids) >= self.ann_min_chunks:
                self._ann = AnnIndex.load(self.data_dir / ANN_FILE, generation, dim)
        return self._matrix

    def refresh_derived(self) -> dict[str, bool]:
        """Rebuild the HNSW and BM25 accelerators where the index is large enough for them.

        Called by ingestion at the end of a run that changed something. Until then,
        searches use exact vectors and FTS5 (a stale accelerator is never used).
        """
        with self._lock:
            built = {"hnsw": self._refresh_ann(), "bm25": self._refresh_bm25()}
        return built

    def _refresh_ann(self) -> bool:
        model = self.embedding_model()
        path = self.data_dir / ANN_FILE
        count = int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        if model is None or count < self.ann_min_chunks:  # count first: loading costs O(n)
            path.unlink(missing_ok=True)
            return False
        matrix = self._current_matrix(model[2])
        self._ann = AnnIndex.build(matrix.matrix, matrix.generation)
        self._ann.save(path)
        return True

    def _refresh_bm25(self) -> bool:
        path = self.data_dir / BM25_FILE
        self._db.execute("BEGIN")  # one consistent view of the chunks
        try:
            generation = self.generation()
            count = int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            if count < self.bm25_min_chunks:
                path.unlink(missing_ok=True)
                return False
            rows = self._db.execute(
                "SELECT id, acl_id, title || ' ' || heading || ' ' || text FROM chunks ORDER BY id"
            )
            index = Bm25Index.build(generation, ((r[0], r[1], r[2]) for r in rows))
        finally:
            self._db.execute("COMMIT")
        index.save(path)
        self._bm25, self._bm25_generation = index, generation
        return True

    def fetch(
        self, chunk_ids: Sequence[int], principal: Principal
    ) -> dict[int, tuple[Chunk, Document]]:
        """Chunks with their documents by row id, leaving out any the principal can't read."""
        if not chunk_ids:
            return {}
        params = {**_principal_params(principal), "ids": json.dumps([int(i) for i in chunk_ids])}
        sql = (
            _ALLOWED + f"SELECT {_CHUNK_COLUMNS}, {_DOC_COLUMNS}"
            " FROM chunks c JOIN documents d ON d.id = c.document_id JOIN acls a ON a.id = d.acl_id"
            " WHERE c.id IN (SELECT value FROM json_each(:ids))"
            " AND c.acl_id IN (SELECT acl_id FROM allowed)"
        )
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
            return {int(r[0]): self._chunk_and_doc(r) for r in rows}

    def _chunk_and_doc(self, r: Sequence[Any]) -> tuple[Chunk, Document]:
        doc = self._document(r[8:], text="")
        heading = tuple(str(r[5]).split(HEADING_SEPARATOR)) if r[5] else ()
        chunk = Chunk(
            chunk_id=f"{doc.key}#{r[1]}", doc_id=doc.doc_id, ordinal=int(r[1]), text=str(r[2]),
            start=int(r[3]), end=int(r[4]), heading_path=heading, page=r[6], token_count=int(r[7]),
        )  # fmt: skip
        return chunk, doc

    def _document(self, r: Sequence[Any], *, text: str) -> Document:
        doc_id, collection, uri, title, content_hash, metadata, tenant, acl_id = r
        users, groups = self._acl_members(int(acl_id))
        return Document(
            doc_id=str(doc_id), collection=str(collection), source_uri=str(uri), title=str(title),
            content_hash=str(content_hash), acl=Acl.of(str(tenant), users, groups),
            metadata=json.loads(metadata), text=text,
        )  # fmt: skip

    def _acl_members(self, acl_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """An ACL row's users and groups; cached, since committed ACL rows never change
        (a changed ACL is a new row), and every search result needs its document's."""
        if acl_id not in self._acl_members_cache:
            users: list[str] = []
            groups: list[str] = []
            for kind, value in self._db.execute(
                "SELECT kind, value FROM acl_members WHERE acl_id = ?", (acl_id,)
            ):
                (users if kind == "user" else groups).append(str(value))
            self._acl_members_cache[acl_id] = (tuple(users), tuple(groups))
        return self._acl_members_cache[acl_id]

    # -- catalog --------------------------------------------------------------------------

    def _visible_sql(self, principal: Principal | None, params: dict[str, Any]) -> tuple[str, str]:
        if principal is None:
            return "", ""
        params.update(_principal_params(principal))
        return _ALLOWED, " AND d.acl_id IN (SELECT acl_id FROM allowed)"

    def list_documents(
        self, principal: Principal | None, collection: str | None = None
    ) -> list[Document]:
        """All documents (operator view) or those `principal` may read."""
        params: dict[str, Any] = {"collection": collection}
        cte, visible = self._visible_sql(principal, params)
        sql = (
            cte + f"SELECT {_DOC_COLUMNS} FROM documents d JOIN acls a ON a.id = d.acl_id"
            " WHERE (:collection IS NULL OR d.collection = :collection)"
            + visible
            + " ORDER BY d.collection, d.doc_id"
        )
        with self._lock:
            return [self._document(r, text="") for r in self._db.execute(sql, params).fetchall()]

    def get_document(
        self, doc_id: str, principal: Principal | None, collection: str | None = None
    ) -> Document | None:
        params: dict[str, Any] = {"doc_id": doc_id, "collection": collection}
        cte, visible = self._visible_sql(principal, params)
        sql = (
            cte + f"SELECT {_DOC_COLUMNS}, d.text FROM documents d JOIN acls a ON a.id = d.acl_id"
            " WHERE d.doc_id = :doc_id AND (:collection IS NULL OR d.collection = :collection)"
            + visible
            + " ORDER BY d.collection LIMIT 2"
        )
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
            if len(rows) > 1:
                raise StoreError(
                    f"document id {doc_id!r} exists in several collections; pass --collection"
                )
            return self._document(rows[0][:8], text=str(rows[0][8])) if rows else None

    def chunks_of(self, doc: Document) -> list[Chunk]:
        sql = (
            f"SELECT {_CHUNK_COLUMNS}, {_DOC_COLUMNS} FROM chunks c"
            " JOIN documents d ON d.id = c.document_id JOIN acls a ON a.id = d.acl_id"
            " WHERE d.collection = ? AND d.doc_id = ? ORDER BY c.ordinal"
        )
        with self._lock:
            rows = self._db.execute(sql, (doc.collection, doc.doc_id)).fetchall()
            return [self._chunk_and_doc(r)[0] for r in rows]

    def stats(self) -> dict[str, Any]:
        """Counts, size on disk, embedding model and the last ingestion run."""
        with self._lock:
            return health.stats(self._db, self.data_dir, self.embedding_model())

    def vector_models(self) -> dict[tuple[str, str], int]:
        """How many vectors each (model id, revision) produced."""
        with self._lock:
            return health.vector_models(self._db)

    def consistency_problems(self) -> list[str]:
        """Violations of the store's invariants; empty when the index is consistent."""
        with self._lock:
            return health.consistency_problems(self._db)
