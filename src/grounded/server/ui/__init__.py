"""The web UI: HTML shells served by the API process, and the static files they load.

The pages hold no data. Each template is a shell (navigation, empty regions,
forms); the page's script in `static/` reads the API key from sessionStorage
and calls the JSON API with `Authorization: Bearer <key>`, exactly as any other
client does, so the UI sees what its principal may see and nothing more.

Every HTML response carries a strict Content-Security-Policy: no inline
script or style, nothing from another origin. Scripts and styles are files in
`static/`; the few widths set at run time go through the CSSOM
(`element.style.width`), which the policy allows. Evaluation reports are
fetched with the bearer header and shown from a `blob:` URL in a frame.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import fastapi
import jinja2
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.staticfiles import PathLike
from starlette.types import Scope

__all__ = ["CONTENT_SECURITY_POLICY", "mount_ui"]

HERE = Path(__file__).resolve().parent

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self' blob:; object-src 'none'; base-uri 'none'"
)
# nosniff, Referrer-Policy and X-Frame-Options come from the app's middleware.
_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}

# path under /ui/ -> (template, title, navigation entry it belongs to)
_PAGES: dict[str, tuple[str, str, str]] = {
    "chat": ("chat.html", "Chat", "chat"),
    "documents": ("documents.html", "Documents", "documents"),
    "evals": ("evals.html", "Evaluations", "evals"),
}
_ANSWER_PATH = re.compile(r"answers/[A-Za-z0-9_.:-]{1,200}")

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class _StaticFiles(StaticFiles):
    """Static files revalidated on every load, so an upgraded server is never paired
    with yesterday's scripts from the browser cache."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _render(template: str, *, title: str, nav: str, status_code: int = 200) -> HTMLResponse:
    html = _templates.get_template(template).render(title=title, nav=nav)
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


async def _sign_in() -> HTMLResponse:
    return _render("signin.html", title="Sign in", nav="")


async def _page(page: str) -> Response:
    page = page.strip("/")
    if not page:
        return RedirectResponse("/ui/chat", status_code=307)
    if page in _PAGES:
        template, title, nav = _PAGES[page]
        return _render(template, title=title, nav=nav)
    if _ANSWER_PATH.fullmatch(page):
        # The answer id is read from the URL by answer.js; nothing of it is rendered here.
        return _render("answer.html", title="Answer details", nav="")
    return _render("notfound.html", title="Page not found", nav="", status_code=404)


def mount_ui(app: fastapi.FastAPI) -> None:
    """Add `GET /` (sign in), `GET /ui/{page...}` and the static files at `/ui/static`.

    The static mount is added first: routes match in order, and `/ui/{page:path}`
    would otherwise answer for `/ui/static/...` too.
    """
    app.mount("/ui/static", _StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_api_route(
        "/", _sign_in, methods=["GET"], include_in_schema=False, response_class=HTMLResponse
    )
    app.add_api_route(
        "/ui/{page:path}",
        _page,
        methods=["GET"],
        include_in_schema=False,
        response_class=HTMLResponse,
    )
