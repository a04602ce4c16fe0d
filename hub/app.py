"""The hub's HTTP API: ``create_app(hub_or_settings) -> FastAPI``.

To add a router, append one line to :data:`ROUTERS` (``"module:attribute"`` of an
``APIRouter``). Handlers reach the running hub with the dependency :func:`get_hub`
(``hub: Annotated[Hub, Depends(get_hub)]``).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hub.config import HubSettings

if TYPE_CHECKING:
    from hub.service import Hub

__all__ = ["ROUTERS", "create_app", "get_hub"]

ROUTERS: list[str] = [
    "hub.ingest.http:router",
    "hub.alerts.api:router",
    "hub.web.routes:router",
    "hub.status.metrics:router",
    "hub.web.docs:router",
    "hub.fhir.api:router",
    "hub.fhir.staff:router",
]
"""Routers included by :func:`create_app`, as ``"module:attribute"``; one line each."""


def get_hub(request: Request) -> Hub:
    """FastAPI dependency: the running :class:`~hub.service.Hub`."""
    hub: Hub = request.app.state.hub
    return hub


def create_app(hub_or_settings: Hub | HubSettings) -> FastAPI:
    """The FastAPI app. Given settings, the app runs its own Hub (without its HTTP server)."""
    lifespan = None
    if isinstance(hub_or_settings, HubSettings):
        settings = hub_or_settings.model_copy(
            update={"http": hub_or_settings.http.model_copy(update={"enabled": False})}
        )

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            from hub.service import Hub

            async with Hub(settings) as running:
                app.state.hub = running
                yield

    # /docs is hub.web.docs (Swagger UI from local files); FastAPI's own pages load a CDN.
    app = FastAPI(title="Hjem hub", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    if not isinstance(hub_or_settings, HubSettings):
        app.state.hub = hub_or_settings

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        """The process is alive and serving: always 200, with a few facts."""
        hub = get_hub(request)
        mqtt = hub.mqtt
        body: dict[str, Any] = {
            "status": "ok",
            "store": hub.store.kind,
            "mqtt_connected": bool(mqtt and mqtt.connected),
            "store_fault": hub.health.fault.as_dict() if hub.health.fault else None,
        }
        return JSONResponse(body)

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        """200 when ready; 503 with the reasons (broker down, store not writable, alert
        engine stopped). ``degraded`` lists every hub-wide reason the board shows."""
        assessment = get_hub(request).status.update()
        body = {
            "ready": assessment.ready,
            "checked": assessment.at.isoformat(),
            "reasons": [r.as_dict() for r in assessment.hub_wide if r.blocks_ready],
            "degraded": [r.as_dict() for r in assessment.hub_wide],
        }
        return JSONResponse(body, status_code=200 if assessment.ready else 503)

    for target in ROUTERS:
        module_name, attribute = target.split(":")
        app.include_router(getattr(importlib.import_module(module_name), attribute))
    from hub.web.csrf import CsrfMiddleware  # CSRF check for every cookie-authenticated change

    app.add_middleware(CsrfMiddleware)
    from hub.web.guard import RequestGuard  # outermost: body limits, auth first, headers

    app.add_middleware(RequestGuard)
    return app
