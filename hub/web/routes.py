"""The dashboard's single router: pages, static files and the JSON API.

``hub.app.ROUTERS`` includes it as ``"hub.web.routes:router"``; the CSRF middleware is added
by :func:`install_dashboard` (or ``app.add_middleware(CsrfMiddleware)``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, status
from fastapi.responses import FileResponse

from hub.alerts.service import AlertService
from hub.web.api import router as api_router
from hub.web.csrf import CsrfMiddleware
from hub.web.guard import RequestGuard
from hub.web.site import ALERTS_STATE, WEB_STATE, WebSettings
from hub.web.views import router as pages_router

__all__ = ["install_dashboard", "router"]

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


def install_dashboard(
    app: FastAPI,
    *,
    alerts: AlertService | None = None,
    settings: WebSettings | None = None,
) -> None:
    """Make ``app`` serve the dashboard. ``hub.app.create_app`` already includes the router
    and the CSRF middleware; for any other app they are added here (once). ``alerts``
    overrides the running hub's alert service, ``settings`` the defaults."""
    if alerts is not None:
        setattr(app.state, ALERTS_STATE, alerts)
    setattr(app.state, WEB_STATE, settings or WebSettings())
    if not any(getattr(m, "cls", None) is CsrfMiddleware for m in app.user_middleware):
        app.add_middleware(CsrfMiddleware)
    if not any(getattr(m, "cls", None) is RequestGuard for m in app.user_middleware):
        app.add_middleware(RequestGuard)

    def is_ours(route: object) -> bool:  # nested (FastAPI >= 0.16x) or flattened routes
        return getattr(route, "original_router", None) is router or (
            getattr(route, "path", None) == "/board"
        )

    if not any(is_ours(r) for r in app.routes):
        app.include_router(router)
