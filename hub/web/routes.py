"""The dashboard's single router: pages, static files and the JSON API.

``hub.app.ROUTERS`` includes it as ``"hub.web.routes:router"``; the CSRF middleware is added
by :func:`hub.web.install_dashboard` (or ``app.add_middleware(CsrfMiddleware)``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

from hub.web.api import router as api_router
from hub.web.views import router as pages_router

__all__ = ["router"]

STATIC = Path(__file__).resolve().parent / "static"
_MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

router = APIRouter()
router.include_router(pages_router)
router.include_router(api_router)


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> FileResponse:
    """The dashboard's CSS and JavaScript (a fixed set of files, never a path)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in _MEDIA or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers={"Cache-Control": "no-cache"})
