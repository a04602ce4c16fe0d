"""The dashboard's HTML pages, one module per area, combined into one router."""

from __future__ import annotations

from fastapi import APIRouter

from hub.web.views import admin, auth, board, homes, rejections, residents, sharing

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (auth, board, residents, homes, admin, rejections, sharing):
    router.include_router(_module.router)
