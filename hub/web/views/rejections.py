"""Refused messages (dead letters) with their reasons, for administrators: ``/admin/rejections``.

An administrator sees the dead letters of their organisation's publishers only — gateways
(and vendors) whose home belongs to a team of the organisation; a system administrator
(no organisation) sees every dead letter, also those of unregistered senders. The same list
as ``hjem hub rejections`` (hub/admin/operator_cli.py), newest first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from hub.registry.figures import publishers_of
from hub.store.ledger import DeadLetter, Ledger, reason_of
from hub.web.site import AdminPage, PageRoute, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
LIMIT = 200


@router.get("/admin/rejections", response_class=HTMLResponse)
async def rejections(
    current: AdminPage,
    publisher: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    orgs = current.orgs
    allowed = None if orgs is None else publishers_of(current.conn, orgs)
    wanted = publisher or None
    letters: list[DeadLetter] = []
    if allowed is None or wanted is None or wanted in allowed:  # another's: an empty list
        letters = Ledger(current.conn).dead_letters(wanted, LIMIT, publishers=allowed)
    rows = [(letter, reason_of(letter.errors)) for letter in letters]
    return render(
        current,
        "rejections.html",
        rows=rows,
        publishers=allowed,
        publisher=wanted or "",
        limit=LIMIT,
    )
