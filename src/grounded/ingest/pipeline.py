"""Incremental, crash-safe ingestion: source → load → chunk → embed → store.

Rules a user can rely on (also in docs/ingestion.md):
- A document whose fingerprint (content, ACL sidecar, run ACL, chunking and
  embedding settings) is unchanged is skipped before it is parsed.
- Each changed document is written in one transaction: fully old or fully new.
- Chunk text already embedded by the same model revision comes from the cache.
- When a scan of a source completes, documents of that collection that came
  from that source and were not seen are deleted with their chunks and vectors.
  A file that exists but fails to load counts as seen: its last good version stays.
- A file that fails to load is reported with its path and reason; the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from grounded.domain import (
    HEADING_SEPARATOR,
    Acl,
    Chunk,
    Document,
    ParsedDocument,
    context_path,
)
from grounded.errors import LoaderError
from grounded.index.sqlite import SqliteStore
from grounded.ingest.sources import FailedItem, Loaded, Source, SourceItem
from grounded.ports import Chunker, Embedder, TokenCounter

PENDING_CHUNKS = 256  # embed in windows of this many chunks across documents


class Progress(Protocol):
    def item_done(self, doc_id: str, outcome: str, chunks: int) -> None: ...

    def embedded(self, texts: int) -> None: ...


class _Silent:
    def item_done(self, doc_id: str, outcome: str, chunks: int) -> None:
        pass

    def embedded(self, texts: int) -> None:
        pass


@dataclass
class IngestReport:
    run_id: int = 0
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    chunks_written: int = 0
    embedded: int = 0  # texts sent to the model (cache misses)
    cache_hits: int = 0
    seconds: float = 0.0
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def ingested_anything(self) -> bool:
        return self.added + self.updated + self.unchanged > 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def embed_text(title: str, chunk: Chunk) -> str:
    """What the embedder sees: the chunk with its document title and heading path."""
    context = HEADING_SEPARATOR.join(context_path(title, chunk.heading_path))
    return f"{context}\n{chunk.text}" if context else chunk.text


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    fingerprint: str
    outcome: str


class Ingestor:
    def __init__(
        self,
        store: SqliteStore,
        embedder: Callable[[], Embedder],
        chunker: Callable[[TokenCounter], Chunker],
        *,
        settings_key: str,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self._embedder_factory = embedder
        self._chunker_factory = chunker
        self._embedder: Embedder | None = None
        self._chunker: Chunker | None = None
        self._settings_key = settings_key
        self.progress: Progress = progress or _Silent()

    def _model(self) -> tuple[Embedder, Chunker]:
        if self._embedder is None or self._chunker is None:
            self._embedder = self._embedder_factory()
            self.store.bind_embedding_model(
                self._embedder.model_id, self._embedder.revision, self._embedder.dim
            )
            self._chunker = self._chunker_factory(self._embedder.count_tokens)
        return self._embedder, self._chunker

    def run(self, source: Source, *, collection: str, acl: Acl) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(run_id=self.store.begin_run(source.source_root, collection))
        try:
            self._sync(source, collection, acl, report)
        except BaseException as exc:
            # Documents written so far stay (each is whole); the run records why it stopped.
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            report.errors.append({"source": source.source_root, "reason": f"run {status}: {exc}"})
            self.store.finish_run(report.run_id, status, _summary(report), report.errors)
            raise
        report.skipped = [asdict(s) for s in source.skipped]
        report.seconds = round(time.perf_counter() - started, 3)
        status = "completed" if not report.errors else "completed_with_errors"
        self.store.finish_run(report.run_id, status, _summary(report), report.errors)
        return report

    def _sync(self, source: Source, collection: str, acl: Acl, report: IngestReport) -> None:
        known = self.store.fingerprints(collection)
        seen: set[str] = set()
        pending: list[_Pending] = []
        for item in source.items():
            if isinstance(item, FailedItem):
                if item.doc_id is not None:
                    seen.add(item.doc_id)  # it exists: keep its last good version
                self._fail(report, item.error)
                continue
            seen.add(item.doc_id)
            report.seen += 1
            fingerprint = self._fingerprint(item, acl)
            if known.get(item.doc_id) == fingerprint:
                report.unchanged += 1
                self.progress.item_done(item.doc_id, "unchanged", 0)
                continue
            prepared = self._prepare(item, collection, acl, fingerprint, known, report)
            if prepared is not None:
                pending.append(prepared)
            if sum(len(p.chunks) for p in pending) >= PENDING_CHUNKS:
                self._flush(pending, source.source_root, report)
        self._flush(pending, source.source_root, report)
        stale = self.store.stale_documents(collection, source.source_root, seen)
        report.deleted = self.store.delete(collection, stale) if stale else 0
        if report.added or report.updated or report.deleted:
            self.store.refresh_derived()

    def _fingerprint(self, item: SourceItem, acl: Acl) -> str:
        raw = json.dumps([item.fingerprint, item.source_uri, acl.key(), self._settings_key])
        return hashlib.sha256(raw.encode()).hexdigest()

    def _fail(self, report: IngestReport, error: LoaderError) -> None:
        report.failed += 1
        report.errors.append({"source": error.source, "reason": error.reason})
        self.progress.item_done(error.source, "failed", 0)

    def _prepare(
        self,
        item: SourceItem,
        collection: str,
        acl: Acl,
        fingerprint: str,
        known: dict[str, str],
        report: IngestReport,
    ) -> _Pending | None:
        try:
            loaded = item.load()
            if not loaded.parsed.text.strip():
                raise LoaderError(item.source_uri, "no text could be extracted")
        except LoaderError as exc:
            self._fail(report, exc)
            return None
        _, chunker = self._model()
        document = _document(item, loaded, collection, acl)
        chunks = _chunks(document, loaded.parsed, chunker)
        outcome = "updated" if item.doc_id in known else "added"
        return _Pending(document, chunks, fingerprint, outcome)

    def _flush(self, pending: list[_Pending], source_root: str, report: IngestReport) -> None:
        if not pending:
            return
        embedder, _ = self._model()
        texts = [embed_text(p.document.title, c) for p in pending for c in p.chunks]
        before = _misses(embedder)
        vectors = embedder.embed(texts, kind="document")
        after = _misses(embedder)
        misses = after - before if after is not None and before is not None else len(texts)
        report.embedded += misses
        report.cache_hits += len(texts) - misses
        self.progress.embedded(len(texts))
        offset = 0
        for p in pending:
            part = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
            self.store.upsert(
                p.document, p.chunks, part, p.fingerprint,
                source_root=source_root, run_id=report.run_id,
            )  # fmt: skip
            setattr(report, p.outcome, getattr(report, p.outcome) + 1)
            report.chunks_written += len(p.chunks)
            self.progress.item_done(p.document.doc_id, p.outcome, len(p.chunks))
        pending.clear()


def _misses(embedder: Embedder) -> int | None:
    stats = getattr(embedder, "stats", None)
    return None if stats is None else int(stats.misses)


def _document(item: SourceItem, loaded: Loaded, collection: str, acl: Acl) -> Document:
    parsed = loaded.parsed
    return Document(
        doc_id=item.doc_id,
        collection=collection,
        source_uri=item.source_uri,
        title=parsed.title or item.doc_id.rsplit("/", 1)[-1],
        content_hash=hashlib.sha256(parsed.text.encode()).hexdigest(),
        acl=loaded.acl.apply(acl),
        metadata=dict(parsed.metadata),
        text=parsed.text,
    )


def _chunks(document: Document, parsed: ParsedDocument, chunker: Chunker) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{document.key}#{i}",
            doc_id=document.doc_id,
            ordinal=i,
            text=parsed.text[d.start : d.end],
            start=d.start,
            end=d.end,
            heading_path=d.heading_path,
            page=d.page,
            token_count=d.token_count,
        )
        for i, d in enumerate(chunker.chunk(parsed))
    ]


def _summary(report: IngestReport) -> dict[str, object]:
    keys = ("seen", "added", "updated", "unchanged", "deleted", "failed", "chunks_written")
    return {k: getattr(report, k) for k in (*keys, "embedded", "cache_hits", "seconds")}
