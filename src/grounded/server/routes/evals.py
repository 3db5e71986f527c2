"""`GET /v1/evals`, `GET /v1/evals/{run}`: evaluation runs in `server.evals_dir` (admin).

Runs hold answers given to the golden set's principals, so only admins read them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from grounded.errors import InvalidRequest
from grounded.evals.gates import check_stored
from grounded.evals.html import render
from grounded.evals.report import read_run
from grounded.server.deps import AdminDep, Svc
from grounded.server.problems import not_found, responses

router = APIRouter(prefix="/v1/evals", tags=["evaluations"], responses=responses(403, 404))
_RUN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
# The report is self-contained HTML with inline CSS and SVG and no script.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return read_run(path)
    except InvalidRequest:
        return None  # missing, unreadable, or not a run


def _summary(name: str, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": name,
        "suite": document.get("suite", {}).get("name"),
        "created": document.get("finished_at") or document.get("started_at"),
        "items": len(document.get("items", [])),
        "aggregates": {k: v.get("mean") for k, v in document["aggregates"].items()},
        "gates_failed": check_stored(document),
        "warnings": document.get("warnings", []),
    }


def _runs(folder: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        document = _read(path)
        if document is not None:
            runs.append(_summary(path.stem, document))
    return runs


@router.get("", summary="Evaluation runs, newest first")
async def list_runs(who: AdminDep, svc: Svc) -> dict[str, Any]:
    return {"runs": await asyncio.to_thread(_runs, svc.settings.server.evals_dir)}


@router.get(
    "/{run}",
    summary="One run's summary, or its HTML report with ?format=html",
    responses={200: {"content": {"text/html": {}}}},
)
async def get_run(
    run: str, who: AdminDep, svc: Svc, format: Literal["json", "html"] = "json"
) -> Any:
    if not _RUN_NAME.match(run):
        raise not_found("run")
    document = await asyncio.to_thread(_read, svc.settings.server.evals_dir / f"{run}.json")
    if document is None:
        raise not_found("run")
    if format == "html":
        html = await asyncio.to_thread(render, document, check_stored(document))
        return HTMLResponse(html, headers={"Content-Security-Policy": _REPORT_CSP})
    return _summary(run, document) | {"versions": document.get("versions", {})}
