"""The API documentation, served by the hub itself (no CDN): Swagger UI and the problem types.

* ``/docs`` — Swagger UI on ``/openapi.json``. Its script and style are the Swagger UI
  distribution that the ``fastapi-offline`` package ships (a dependency of ``hjem[hub]``),
  served from ``/docs/assets/``; the page starts it with ``/static/hjem-docs.js``, so the
  dashboard's Content-Security-Policy (only our own script) holds and the page works without
  internet. The online validator badge is off (it would call out).
* ``/problems`` and ``/problems/<slug>`` — what each problem ``type`` of the API's error answers
  (:mod:`hub.problems`) means and what to do, in the site's language (the language cookie;
  ``?lang=da|en`` for one page).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse

from hub.problems import PROBLEM_TYPES
from hub.web.i18n import LANGUAGES, translator
from hub.web.site import Page, public_page, render

__all__ = ["ASSETS", "router"]

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
_SERVED = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}

router = APIRouter(tags=["docs"])

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Hjem hub API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head>
<body>
  <p>OpenAPI document: <a href="/openapi.json">/openapi.json</a> ·
     error answers: <a href="/problems">problem types</a></p>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/hjem-docs.js"></script>
</body>
</html>
"""


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI for this hub's API, from files the hub serves."""
    return HTMLResponse(_DOCS_PAGE)


@router.get("/docs/assets/{name}", include_in_schema=False)
async def docs_asset(name: str) -> FileResponse:
    """Swagger UI's script, style and icon (a fixed set of files, never a path)."""
    if name not in _SERVED or not (ASSETS / name).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(
        ASSETS / name, media_type=_SERVED[name], headers={"Cache-Control": "max-age=86400"}
    )


def _page(request: Request, lang: str | None) -> Page:
    current = public_page(request)
    if lang is None:
        return current
    if lang not in LANGUAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no language {lang!r}")
    return Page(request, None, translator(lang), current.csrf, current.settings, current.now)


@router.get("/problems", include_in_schema=False)
async def problems(request: Request, lang: str | None = None) -> HTMLResponse:
    """Every problem type of the API, with what it means."""
    return render(_page(request, lang), "problems.html", types=PROBLEM_TYPES, selected=None)


@router.get("/problems/{slug}", include_in_schema=False)
async def problem_page(request: Request, slug: str, lang: str | None = None) -> HTMLResponse:
    """One problem type: the page its ``type`` URI leads to."""
    if slug not in PROBLEM_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no problem type {slug!r}")
    types = {slug: PROBLEM_TYPES[slug]}
    return render(_page(request, lang), "problems.html", types=types, selected=slug)
