"""Sharing with other care actors, for staff of the residents' organisation: the consents of
their residents (``/sharing``: list, record, revoke) and the FHIR access log of requests about
them (``/sharing/access-log``).

Consents are recorded and revoked through the consent repository (:mod:`hub.fhir.consent`),
which checks on the server that the resident belongs to the user's organisation and audits
every change with the user as actor. A resident or consent of another organisation is not
found (404) or refused (403), whatever the form says. The forms post with ``fetch`` (CSRF
token in the header, JSON answer) or as plain forms (a redirect back to the page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub.fhir.api import room_of
from hub.fhir.consent import PURPOSES, Consent
from hub.fhir.errors import ConsentError
from hub.registry.figures import organisation_rows
from hub.web import queries
from hub.web.site import CurrentPage, Page, PageRoute, render

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)
LOG_LIMIT = 500


def _mine(current: Page, consent: Consent) -> bool:
    orgs = current.orgs
    return orgs is None or consent.organisation in orgs


def _state(consent: Consent, now: datetime) -> str:
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if consent.start > now:
        return "future"
    return "active" if consent.active(now) else "expired"


def _names(current: Page) -> tuple[dict[str, str], dict[str, str]]:
    """Resident id -> name (the user's residents), organisation id -> name."""
    residents = {r.id: r.name for r in queries.residents(current.conn, current.orgs)}
    organisations = {str(i): str(n) for i, n in organisation_rows(current.conn)}
    return residents, organisations


@router.get("/sharing", response_class=HTMLResponse)
async def consents(current: CurrentPage) -> HTMLResponse:
    room = room_of(current.request)
    listed = [c for c in room.consents.listing(current.orgs) if _mine(current, c)]
    residents, organisations = _names(current)
    local_now = current.now.astimezone(current.settings.zone)
    return render(
        current,
        "sharing.html",
        consents=[(c, _state(c, current.now)) for c in listed],
        residents=residents,
        organisations=organisations,
        purposes=list(PURPOSES),
        actor_names=current.actor_names(),
        default_start=local_now.strftime("%Y-%m-%dT%H:%M"),
    )


@router.get("/sharing/access-log", response_class=HTMLResponse)
async def access_log(current: CurrentPage) -> HTMLResponse:
    entries = room_of(current.request).access_log.entries(current.orgs, limit=LOG_LIMIT)
    residents, organisations = _names(current)
    return render(
        current,
        "access_log.html",
        entries=entries,
        residents=residents,
        organisations=organisations,
        limit=LOG_LIMIT,
    )


def _local(current: Page, text: str, field: str) -> datetime:
    """A ``datetime-local`` form value in the dashboard's zone (or with its own offset)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConsentError(field, current.t("sharing.bad_time", value=text)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=current.settings.zone)


def _answer(current: Page, body: dict[str, object], code: int) -> Response:
    if "application/json" in current.request.headers.get("accept", ""):
        return JSONResponse(body, status_code=code)
    return RedirectResponse("/sharing", status_code=303)


def _failed(current: Page, exc: ConsentError) -> Response:
    """404 for what is not found (or not the user's), 403 for another organisation's, else 422."""
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    if "no such" in exc.problem:
        code = status.HTTP_404_NOT_FOUND
    elif "another organisation" in exc.problem:
        code = status.HTTP_403_FORBIDDEN
    message = f"{exc.key}: {exc.problem}"
    if "application/json" in current.request.headers.get("accept", ""):
        return JSONResponse({"message": message}, status_code=code)
    return render(current, "error.html", status_code=code, code=code, detail=message)


def _own_resident(current: Page, resident_id: str) -> None:
    if queries.resident(current.conn, resident_id, current.orgs) is None:
        raise ConsentError(resident_id, "no such resident in your organisation")


def _own_consent(current: Page, found: Consent | None, consent_id: int) -> None:
    if found is None or not _mine(current, found):
        raise ConsentError(str(consent_id), "no such consent in your organisation")


@router.post("/sharing/consents")
async def add_consent(  # noqa: PLR0917 - the form's fields
    current: CurrentPage,
    resident_id: Annotated[str, Form(min_length=1, max_length=64)],
    recipient: Annotated[str, Form(min_length=1, max_length=64)],
    purpose: Annotated[str, Form(min_length=1, max_length=16)],
    start: Annotated[str, Form(min_length=1, max_length=40)],
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Record a consent for a resident of the user's organisation (another's: 404)."""
    user = current.signed_in()
    try:
        _own_resident(current, resident_id)
        begins = _local(current, start, "start")
        ends = _local(current, end, "end") if end.strip() else None
        consent = room_of(current.request).consents.add(
            resident_id,
            recipient,
            purpose,
            begins,
            ends,
            actor=user.username,
            actor_orgs=user.organisations(),
        )
    except ConsentError as exc:
        return _failed(current, exc)
    return _answer(current, {"id": consent.id, "state": "recorded"}, status.HTTP_201_CREATED)


@router.post("/sharing/consents/{consent_id}/revoke")
async def revoke_consent(consent_id: int, current: CurrentPage) -> Response:
    """Revoke a consent of the user's organisation from now (another's: 404)."""
    user = current.signed_in()
    consents = room_of(current.request).consents
    try:
        _own_consent(current, consents.get(consent_id), consent_id)
        consents.revoke(consent_id, actor=user.username, actor_orgs=user.organisations())
    except ConsentError as exc:
        return _failed(current, exc)
    return _answer(current, {"id": consent_id, "state": "revoked"}, status.HTTP_200_OK)
