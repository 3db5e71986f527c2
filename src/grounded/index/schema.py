"""The SQLite schema, as an ordered list of migrations.

Nothing a user ingested may be lost by an upgrade: a schema change is a new
entry appended to MIGRATIONS, never an edit of an old one. `PRAGMA
user_version` records how many have been applied.

Invariants the rest of the store relies on:
- every chunk row has its document (`ON DELETE CASCADE`), every vector its chunk;
- `chunks.tenant` and `chunks.acl_id` copy the document's, so the ACL filter
  joins nothing wider than `chunks` and `acls`;
- `chunks_fts` is an external-content FTS5 index over `chunks`, kept in step
  by the store inside the same transaction as the chunk rows;
- `vectors.model_id` names the `embedding_models` row (model id, revision,
  dimensions) that produced the vector; an index holds one model's vectors.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE acls (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        is_open INTEGER NOT NULL
    );
    CREATE INDEX acls_tenant ON acls (tenant);
    CREATE TABLE acl_members (
        acl_id INTEGER NOT NULL REFERENCES acls (id),
        kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),
        value TEXT NOT NULL,
        PRIMARY KEY (kind, value, acl_id)
    ) WITHOUT ROWID;
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        collection TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        acl_id INTEGER NOT NULL REFERENCES acls (id),
        source_root TEXT NOT NULL,
        source_uri TEXT NOT NULL,
        title TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        metadata TEXT NOT NULL,
        text TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        run_id INTEGER,
        UNIQUE (collection, doc_id)
    );
    CREATE INDEX documents_root ON documents (collection, source_root);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        acl_id INTEGER NOT NULL,
        collection TEXT NOT NULL,
        title TEXT NOT NULL,
        heading TEXT NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        start_offset INTEGER NOT NULL,
        end_offset INTEGER NOT NULL,
        token_count INTEGER NOT NULL,
        UNIQUE (document_id, ordinal)
    );
    CREATE INDEX chunks_acl ON chunks (acl_id);
    CREATE TABLE vectors (
        chunk_id INTEGER PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
        vector BLOB NOT NULL
    );
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        title, heading, text,
        content = 'chunks', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        collection TEXT NOT NULL,
        stats TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '[]'
    );
    INSERT INTO meta (key, value) VALUES ('generation', '0');
    """,
    # 2: every vector records the embedding model (id and revision) that produced it.
    """
    CREATE TABLE embedding_models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        revision TEXT NOT NULL,
        dim INTEGER NOT NULL,
        UNIQUE (name, revision)
    );
    INSERT INTO embedding_models (name, revision, dim)
        SELECT m.value, r.value, CAST(d.value AS INTEGER) FROM meta m, meta r, meta d
        WHERE m.key = 'embed_model' AND r.key = 'embed_revision' AND d.key = 'embed_dim';
    ALTER TABLE vectors ADD COLUMN model_id INTEGER NOT NULL DEFAULT 0;
    UPDATE vectors SET model_id = (SELECT id FROM embedding_models ORDER BY id LIMIT 1);
    """,
)


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database has not seen yet, each in its own transaction."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
