"""Where documents come from: a folder (or single file) of documents, or a JSONL corpus.

A source yields `SourceItem`s cheaply (a fingerprint, not parsed content), so
the pipeline can skip unchanged documents before paying for parsing.

ACL precedence for one document, lowest first: the run's `--tenant/--allow-*`,
then keys of the same names in the document itself (Markdown front matter or
JSONL fields), then a sidecar `<file>.acl.yaml`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from grounded.config import yaml_problem
from grounded.domain import AclOverride, BlockKind, ParsedDocument
from grounded.errors import InvalidRequest, LoaderError
from grounded.ingest.loaders import loader_for_path
from grounded.ingest.normalise import TextBuilder

SourceFormat = Literal["auto", "files", "jsonl", "beir"]
ACL_KEYS = ("tenant", "allow_users", "allow_groups")
SIDECAR_SUFFIX = ".acl.yaml"


@dataclass(frozen=True)
class Loaded:
    parsed: ParsedDocument
    acl: AclOverride = field(default_factory=AclOverride)


@dataclass(frozen=True)
class SourceItem:
    doc_id: str
    source_uri: str
    fingerprint: str  # changes whenever the document or its ACL sidecar changes
    load: Callable[[], Loaded]


@dataclass(frozen=True)
class FailedItem:
    """A document that exists but could not be read; `doc_id` is None when unknown."""

    doc_id: str | None
    error: LoaderError


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def _as_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",")]
    if not isinstance(value, list | tuple):
        raise LoaderError(where, f"{key} must be a list of strings, not {type(value).__name__}")
    return tuple(str(v).strip() for v in value if str(v).strip())


def acl_override(values: dict[str, Any], where: str) -> AclOverride:
    """The ACL keys of a front matter block, sidecar file or JSONL record."""
    tenant = values.get("tenant")
    users = values.get("allow_users")
    groups = values.get("allow_groups")
    return AclOverride(
        tenant=str(tenant).strip() if tenant else None,
        allow_users=None if users is None else _as_list(users, where, "allow_users"),
        allow_groups=None if groups is None else _as_list(groups, where, "allow_groups"),
    )


def _merge(low: AclOverride, high: AclOverride) -> AclOverride:
    return AclOverride(
        tenant=high.tenant or low.tenant,
        allow_users=low.allow_users if high.allow_users is None else high.allow_users,
        allow_groups=low.allow_groups if high.allow_groups is None else high.allow_groups,
    )


def _read_sidecar(path: Path) -> tuple[bytes, AclOverride]:
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.exists():
        return b"", AclOverride()
    raw = sidecar.read_bytes()
    try:
        values = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise LoaderError(str(sidecar), f"invalid YAML: {yaml_problem(exc)}") from exc
    if not isinstance(values, dict):
        raise LoaderError(str(sidecar), "must be a mapping with allow_users/allow_groups/tenant")
    unknown = set(values) - set(ACL_KEYS)
    if unknown:
        raise LoaderError(str(sidecar), f"unknown keys {sorted(unknown)}; allowed: {ACL_KEYS}")
    return raw, acl_override(values, str(sidecar))


def _load_file(path: Path, data: bytes, sidecar_acl: AclOverride) -> Loaded:
    loader = loader_for_path(path)
    if loader is None:  # pragma: no cover - filtered by the walk
        raise LoaderError(str(path), "unsupported file type")
    parsed = loader.load(data, source=str(path))
    metadata = dict(parsed.metadata)
    own = acl_override({k: metadata.pop(k) for k in ACL_KEYS if k in metadata}, str(path))
    parsed = ParsedDocument(parsed.text, parsed.blocks, parsed.title, metadata)
    return Loaded(parsed, _merge(own, sidecar_acl))


class FileSource:
    """Every supported file under a folder (or one file). Hidden files are ignored."""

    def __init__(self, root: Path, *, max_file_bytes: int) -> None:
        if not root.exists():
            raise InvalidRequest(f"{root} does not exist; pass a folder or a file to ingest")
        self.root = root.resolve()
        self.max_file_bytes = max_file_bytes
        self.skipped: list[SkippedFile] = []

    @property
    def source_root(self) -> str:
        return str(self.root)

    def _files(self) -> Iterator[Path]:
        if self.root.is_file():
            yield self.root
            return
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if path.name.endswith(SIDECAR_SUFFIX):
                continue
            if loader_for_path(path) is None:
                self.skipped.append(SkippedFile(str(rel), "unsupported file type"))
                continue
            yield path

    def items(self) -> Iterator[SourceItem | FailedItem]:
        base = self.root.parent if self.root.is_file() else self.root
        for path in self._files():
            doc_id = path.relative_to(base).as_posix()
            try:
                size = path.stat().st_size
                if size > self.max_file_bytes:
                    raise LoaderError(
                        str(path),
                        f"file is {size / 1e6:.1f} MB, over the {self.max_file_bytes / 1e6:.0f} MB"
                        " limit (raise ingest.max_file_mb to ingest it)",
                    )
                data = path.read_bytes()
                sidecar_bytes, sidecar_acl = _read_sidecar(path)
            except OSError as exc:
                yield FailedItem(doc_id, LoaderError(str(path), f"cannot read: {exc.strerror}"))
                continue
            except LoaderError as exc:
                yield FailedItem(doc_id, exc)
                continue
            digest = hashlib.sha256(data + b"\0acl\0" + sidecar_bytes).hexdigest()
            yield SourceItem(
                doc_id,
                path.as_uri(),
                digest,
                lambda p=path, d=data, a=sidecar_acl: _load_file(p, d, a),
            )


def record_document(record: dict[str, Any], where: str) -> Loaded:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoaderError(where, "record has no non-empty 'text' field")
    builder = TextBuilder()
    for para in text.split("\n\n"):
        builder.add(BlockKind.PARAGRAPH, para)
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LoaderError(where, "'metadata' must be an object")
    title = record.get("title")
    parsed = builder.build(str(title).strip() if title else None, metadata)
    return Loaded(parsed, acl_override(record, where))


class JsonlSource:
    """One document per line: `_id` (or `id`), `text`, optional `title`, `metadata`, ACL fields.

    `beir` accepts exactly the BEIR corpus format (`_id`, `title`, `text`, `metadata`).
    """

    def __init__(self, path: Path, fmt: Literal["jsonl", "beir"]) -> None:
        if not path.is_file():
            raise InvalidRequest(f"{path} is not a file; --format {fmt} expects a .jsonl file")
        self.path = path.resolve()
        self.fmt = fmt
        self.skipped: list[SkippedFile] = []

    @property
    def source_root(self) -> str:
        return str(self.path)

    def _parse_line(self, line: str, where: str) -> tuple[str, dict[str, Any]]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoaderError(where, f"invalid JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise LoaderError(where, "each line must be a JSON object")
        key = "_id" if self.fmt == "beir" else ("_id" if "_id" in record else "id")
        doc_id = record.get(key)
        if doc_id is None or not str(doc_id).strip():
            raise LoaderError(where, f"record has no {key!r} field")
        return str(doc_id), record

    def items(self) -> Iterator[SourceItem | FailedItem]:
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{self.path}:{number}"
                try:
                    doc_id, record = self._parse_line(line, where)
                except LoaderError as exc:
                    yield FailedItem(None, exc)
                    continue
                digest = hashlib.sha256(line.strip().encode()).hexdigest()
                uri = str(record.get("source_uri") or f"{self.path.as_uri()}#{doc_id}")
                yield SourceItem(
                    doc_id, uri, digest, lambda r=record, w=where: record_document(r, w)
                )


class UploadSource:
    """One uploaded file, held in memory, under an id the caller chose (the service's).

    The ACL is the upload's own (the run's): ACL keys in the file's front matter
    are dropped, so an upload can never move itself to another tenant.
    """

    def __init__(self, doc_id: str, filename: str, data: bytes, metadata: dict[str, Any]) -> None:
        if loader_for_path(Path(filename)) is None:
            raise InvalidRequest(f"{filename!r} is not a supported type; {SUPPORTED_HINT}")
        self.doc_id = doc_id
        self.filename = filename
        self.data = data
        self.metadata = metadata
        self.skipped: list[SkippedFile] = []

    @property
    def source_root(self) -> str:
        return f"upload:{self.doc_id}"

    def _load(self) -> Loaded:
        loader = loader_for_path(Path(self.filename))
        assert loader is not None  # checked in __init__
        parsed = loader.load(self.data, source=self.filename)
        metadata = {k: v for k, v in parsed.metadata.items() if k not in ACL_KEYS}
        metadata.update(self.metadata)
        return Loaded(ParsedDocument(parsed.text, parsed.blocks, parsed.title, metadata))

    def items(self) -> Iterator[SourceItem | FailedItem]:
        digest = hashlib.sha256(self.data).hexdigest()
        yield SourceItem(self.doc_id, self.source_root, digest, self._load)


Source = FileSource | JsonlSource | UploadSource
SUPPORTED_HINT = "upload Markdown, text, HTML, PDF or DOCX (.md .txt .html .pdf .docx)"
_COLLECTION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def check_collection(name: str) -> str:
    if not name or set(name) - _COLLECTION_CHARS:
        raise InvalidRequest(
            f"collection name {name!r} may only use letters, digits, '_', '.' and '-'"
        )
    return name


def open_source(path: Path, fmt: SourceFormat, *, max_file_bytes: int) -> Source:
    if fmt in ("jsonl", "beir"):
        return JsonlSource(path, fmt)
    if fmt == "auto" and path.is_file() and path.suffix.lower() == ".jsonl":
        return JsonlSource(path, "jsonl")
    return FileSource(path, max_file_bytes=max_file_bytes)
