"""Documents of the caller's tenant: upload, list, show, delete.

A document the caller may not read answers exactly like one that does not
exist, so no route tells a caller that another tenant's (or a restricted)
document is there.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from grounded.domain import Acl, Document
from grounded.errors import InvalidRequest
from grounded.runtime import Runtime
from grounded.server.auth import Caller
from grounded.server.deps import CallerDep, Svc
from grounded.server.problems import Problem, not_found, responses
from grounded.views import doc_json

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=responses(403, 404))
UPLOADS = "uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def document_json(doc: Document) -> dict[str, Any]:
    out = doc_json(doc)
    out.pop("content_hash")
    return {
        "id": f"{doc.collection}:{doc.doc_id}",
        **out,
        "uploaded_by": doc.metadata.get("uploaded_by"),
    }


def _namespace(who: Caller) -> str:
    """Uploads live under <tenant>/<user>/, so none can replace another's document."""
    return f"{who.principal.tenant}/{who.principal.user or '_'}/"


def _filename(name: str | None) -> str:
    base = _UNSAFE.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if not base:
        raise InvalidRequest("the upload has no file name; send it as the multipart field `file`")
    return base[-120:]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class _Upload:
    filename: str | None
    data: bytes
    collection: str
    allow_users: list[str]
    allow_groups: list[str]


def _ingest(runtime: Runtime, who: Caller, upload: _Upload) -> Document:
    from grounded.ingest.sources import UploadSource, check_collection  # the ingestion stack

    collection = check_collection(upload.collection)
    doc_id = _namespace(who) + _filename(upload.filename)
    source = UploadSource(
        doc_id, upload.filename or doc_id, upload.data, {"uploaded_by": who.principal.user or ""}
    )
    acl = Acl.of(who.principal.tenant, upload.allow_users, upload.allow_groups)
    report = runtime.ingestor().run(source, collection=collection, acl=acl)
    if report.failed:
        reason = report.errors[0]["reason"] if report.errors else "it could not be parsed"
        raise InvalidRequest(f"the file was not ingested: {reason}")
    doc = runtime.store.get_document(doc_id, None, collection)
    assert doc is not None
    return doc


@router.post("", status_code=201, summary="Upload and ingest a document into the caller's tenant")
async def upload(
    who: CallerDep,
    svc: Svc,
    file: Annotated[UploadFile, File(description="Markdown, text, HTML, PDF or DOCX")],
    collection: Annotated[str, Form()] = UPLOADS,
    allow_users: Annotated[str, Form(description="comma-separated; empty: whole tenant")] = "",
    allow_groups: Annotated[str, Form(description="comma-separated")] = "",
) -> dict[str, Any]:
    data = await file.read()
    if not data:
        raise InvalidRequest("the uploaded file is empty")
    up = _Upload(file.filename, data, collection, _split(allow_users), _split(allow_groups))
    # Parsing, chunking and embedding are CPU work.
    doc = await asyncio.to_thread(_ingest, svc.runtime, who, up)
    return document_json(doc)


@router.get("", summary="Documents the caller may read")
async def list_documents(who: CallerDep, svc: Svc, collection: str | None = None) -> dict[str, Any]:
    docs = await asyncio.to_thread(svc.runtime.store.list_documents, who.principal, collection)
    return {"documents": [document_json(d) for d in docs]}


def _parse_ref(ref: str) -> tuple[str, str]:
    collection, sep, doc_id = ref.partition(":")
    if not sep or not collection or not doc_id:
        raise not_found()
    return collection, doc_id


async def _visible(svc: Svc, who: Caller, ref: str) -> Document:
    collection, doc_id = _parse_ref(ref)
    doc = await asyncio.to_thread(svc.runtime.store.get_document, doc_id, who.principal, collection)
    if doc is None:
        raise not_found()
    return doc


@router.get("/{ref:path}", summary="One document with its text (`id` is collection:doc_id)")
async def get_document(ref: str, who: CallerDep, svc: Svc, chunks: bool = False) -> dict[str, Any]:
    doc = await _visible(svc, who, ref)
    out = document_json(doc) | {"text": doc.text}
    if chunks:
        parts = await asyncio.to_thread(svc.runtime.store.chunks_of, doc)
        out["chunks"] = [
            {"ordinal": c.ordinal, "heading": c.heading, "page": c.page,
             "char_start": c.start, "char_end": c.end, "text": c.text}
            for c in parts
        ]  # fmt: skip
    return out


@router.delete(
    "/{ref:path}", status_code=204, summary="Delete a document (its uploader or an admin)"
)
async def delete_document(ref: str, who: CallerDep, svc: Svc) -> Response:
    doc = await _visible(svc, who, ref)
    if not (who.admin or doc.doc_id.startswith(_namespace(who))):
        raise Problem(403, "forbidden", "only its uploader or an admin of the tenant may delete it")

    def remove() -> None:
        store = svc.runtime.store
        store.delete(doc.collection, [doc.doc_id])
        store.refresh_derived()  # keyword statistics without it, before the next search

    await asyncio.to_thread(remove)
    return Response(status_code=204)
