"""The alert board (live), alert details with their audit trail, history, and the
acknowledge/resolve actions (plain form posts, or fetch with ``Accept: application/json``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub.alerts.engine import SEVERITY_RANK
from hub.alerts.errors import AlertNotFoundError, InvalidTransitionError
from hub.alerts.service import AlertService
from hub.alerts.store import AlertRow
from hub.status.core import Reason
from hub.web import queries
from hub.web.alert_text import alert_title, audit_note, reading
from hub.web.site import CurrentPage, Page, PageRoute, alerts_of, render
from schemas.models import AlertState

__all__ = ["AlertCard", "StatusLine", "alert_cards", "router", "status_lines"]

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True, slots=True)
class AlertCard:
    id: str
    severity: str
    state: str
    summary: str
    resident_id: str | None
    resident_name: str | None
    home_label: str | None
    opened: datetime
    updated: datetime
    assignee: str | None
    escalation_level: int
    deadline: datetime | None
    reading: str | None = None
    """The value that triggered the alert, with its unit (``39,4 °C``)."""
    reading_time: datetime | None = None
    acked_by: str | None = None
    """The acknowledging user's display name."""
    acked_at: datetime | None = None
    ack_note: str | None = None
    deadline_clock: str | None = None
    """The escalation deadline on the board's clock (``14:32``)."""
    deadline_minutes: int = 0
    """Whole minutes left until the deadline, rounded up (``om 4 min``)."""
    rule: str = ""


def _clock(moment: datetime, current: Page) -> str:
    """``14:32`` today in the board's time zone, else with the date."""
    local = moment.astimezone(current.settings.zone)
    if local.date() == current.now.astimezone(current.settings.zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%d.%m. %H:%M" if current.t.language == "da" else "%b %d %H:%M")


def minutes_left(deadline: datetime, now: datetime) -> int:
    """Minutes until ``deadline``, rounded up (3 min 10 s -> 4); 0 when it has passed."""
    return max(0, math.ceil((deadline - now).total_seconds() / 60))


def alert_cards(
    rows: Iterable[AlertRow], residents: Mapping[str, queries.ResidentView], current: Page
) -> list[AlertCard]:
    """Board order: most severe first, then the longest waiting; texts in the page's language."""
    ordered = sorted(rows, key=lambda r: (-SEVERITY_RANK[r.severity], r.opened, r.id))
    service = alerts_of(current.request)
    rules = service.engine.config if service else None
    acks = service.engine.store.acknowledgements(r.id for r in ordered) if service else {}
    names = current.actor_names()
    cards = []
    for row in ordered:
        who = residents.get(row.resident) if row.resident else None
        deadline = row.next_notify if row.state is AlertState.ACTIVE_UNACK else None
        ack = acks.get(row.id)
        cards.append(
            AlertCard(
                row.id,
                row.severity.value,
                row.state.value.lower(),
                alert_title(row, rules, current.t),
                row.resident,
                who.name if who else None,
                who.home_label if who else None,
                row.opened,
                row.updated,
                row.assignee,
                row.escalation_level,
                deadline,
                reading(row, current.t),
                row.trigger_time,
                names.get(ack.actor, ack.actor) if ack else None,
                ack.time if ack else None,
                ack.note if ack else None,
                _clock(deadline, current) if deadline else None,
                minutes_left(deadline, current.now) if deadline else 0,
                row.rule,
            )
        )
    return cards


@dataclass(frozen=True, slots=True)
class StatusLine:
    """One reason the hub cannot vouch for calm, in the user's language."""

    code: str
    text: str
    since: datetime | None


def _line(current: Page, reason: Reason) -> StatusLine:
    return StatusLine(
        reason.code, current.t(f"status.{reason.code}", **reason.values), reason.since
    )


def status_lines(current: Page) -> list[StatusLine]:
    """What this user must be told before the board may say all is calm (empty: calm).

    A fresh assessment of the hub's parts (hub.status) for the organisations the user
    sees; a hub without a status model can vouch for nothing.
    """
    monitor = getattr(current.hub, "status", None)
    if monitor is None:
        return [StatusLine("unknown", current.t("status.unknown"), None)]
    assessment = monitor.update(alerts=alerts_of(current.request))
    return [_line(current, reason) for reason in assessment.for_viewer(current.orgs)]


def service_of(current: Page) -> AlertService:
    service = alerts_of(current.request)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, current.t("errors.no_alerts"))
    return service


def open_cards(current: Page) -> list[AlertCard]:
    service = alerts_of(current.request)
    if service is None:
        return []
    states = [s for s in AlertState if s is not AlertState.CLEARED_ACK]
    rows = service.engine.store.find(organisations=current.orgs, states=states, limit=500)
    residents = {r.id: r for r in queries.residents(current.conn, current.orgs)}
    return alert_cards(rows, residents, current)


def visible_alert(current: Page, alert_id: str) -> AlertRow:
    """The alert if the user's organisation may see it, else 404 (never 403)."""
    service = service_of(current)
    try:
        row = service.engine.store.get(alert_id)
    except AlertNotFoundError:
        row = None
    if row is None or current.user is None or not current.user.may_see(row.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_alert"))
    return row


@router.get("/board", response_class=HTMLResponse)
async def board(current: CurrentPage) -> HTMLResponse:
    cards = open_cards(current)
    lines = status_lines(current)
    return render(
        current,
        "board.html",
        alerts=cards,
        open_count=len(cards),
        status_lines=lines,
        calm=not lines,
    )


@router.get("/board/fragment", response_class=HTMLResponse)
async def board_fragment(current: CurrentPage) -> HTMLResponse:
    lines = status_lines(current)
    return render(current, "_alerts.html", alerts=open_cards(current), calm=not lines)


@router.get("/board/status", response_class=HTMLResponse)
async def board_status(current: CurrentPage) -> HTMLResponse:
    """The banner alone: the board polls it every few seconds."""
    return render(current, "_status.html", status_lines=status_lines(current))


@router.get("/alerts/history", response_class=HTMLResponse)
async def history(current: CurrentPage) -> HTMLResponse:
    service = service_of(current)
    rows = service.engine.store.find(
        organisations=current.orgs, states=[AlertState.CLEARED_ACK], limit=300
    )
    residents = {r.id: r for r in queries.residents(current.conn, current.orgs)}
    cards = sorted(alert_cards(rows, residents, current), key=lambda c: c.updated, reverse=True)
    closed = queries.resolutions(current.conn, (c.id for c in cards))
    return render(
        current,
        "history.html",
        alerts=cards,
        closed=closed,
        actor_names=current.actor_names(),
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_detail(alert_id: str, current: CurrentPage) -> HTMLResponse:
    row = visible_alert(current, alert_id)
    residents = {r.id: r for r in queries.residents(current.conn, current.orgs)}
    card = alert_cards([row], residents, current)[0]
    entries = service_of(current).engine.audit(alert_id)
    names = current.actor_names()
    notes = [audit_note(e, current.t) for e in entries]
    return render(
        current,
        "alert.html",
        alert=card,
        entries=zip(entries, notes, strict=True),
        actor_names=names,
    )


def _done(request: Request, alert_id: str, state: AlertState) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": alert_id, "state": state.value})
    return RedirectResponse("/board", status_code=303)


def _act(current: Page, alert_id: str, action: str, note: str) -> Response:
    user = current.signed_in()
    visible_alert(current, alert_id)
    engine = service_of(current).engine
    note = note.strip()
    try:
        if action == "ack":
            event = engine.acknowledge(alert_id, user.username, note or None)
        else:
            if not note:
                return _refuse(current, status.HTTP_422_UNPROCESSABLE_CONTENT, "board.note_needed")
            event = engine.resolve(alert_id, user.username, note)
    except InvalidTransitionError:
        return _refuse(current, status.HTTP_409_CONFLICT, "board.already_handled")
    return _done(current.request, alert_id, event.state)


def _refuse(current: Page, code: int, key: str) -> Response:
    message = current.t(key)
    if "application/json" in current.request.headers.get("accept", ""):
        return JSONResponse({"message": message}, status_code=code)
    return render(current, "error.html", status_code=code, code=code, detail=message)


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(
    alert_id: str, current: CurrentPage, note: Annotated[str, Form(max_length=512)] = ""
) -> Response:
    return _act(current, alert_id, "ack", note)


@router.post("/alerts/{alert_id}/resolve")
async def resolve(
    alert_id: str, current: CurrentPage, note: Annotated[str, Form(max_length=512)] = ""
) -> Response:
    return _act(current, alert_id, "resolve", note)
