"""The audit view (everyone, own organisation) and administration (administrators):
users, residents, devices and their assignment to residents over time, API tokens.
Every administrative change is written to the append-only ``web_admin_audit`` table
(:mod:`hub.admin.audit`), filed under the actor's and every affected organisation; the audit
view also lists silences created and ended (:mod:`hub.alerts.silences`).

Every write checks the organisation of each object it touches: a device must belong to the
administrator's organisation or be unclaimed (:func:`hub.web.queries.devices`), a resident,
home or team must be the organisation's; anything else is "not found" (404)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.alerts import silences
from hub.auth import Role, UserExistsError
from hub.errors import RegistryError
from hub.registry.figures import spo2_scales
from hub.web import queries
from hub.web.alert_text import alert_title, audit_note
from hub.web.site import (
    AdminPage,
    CurrentPage,
    Page,
    PageRoute,
    alerts_of,
    authenticator_of,
    render,
)

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


@router.get("/audit", response_class=HTMLResponse)
async def audit(current: CurrentPage) -> HTMLResponse:
    try:
        entries = queries.alert_audit(current.conn, current.orgs)
        quiet = silences.audit(current.conn, current.orgs)
    except sqlite3.OperationalError:  # the alert tables do not exist (alerts not set up)
        entries, quiet = [], []
    actions = queries.admin_actions(current.conn, current.orgs) + [
        queries.AdminAction(q.time, q.actor, q.action, q.silence_id, q.detail) for q in quiet
    ]
    return render(
        current,
        "audit.html",
        entries=entries,
        titles=_titles(current, {e.alert_id for e in entries}),
        audit_note=lambda entry: audit_note(entry, current.t),
        actions=sorted(actions, key=lambda a: a.time, reverse=True),
        actor_names=current.actor_names(),
    )


def _titles(current: Page, alert_ids: set[str]) -> dict[str, str]:
    """Each alert's title in the page's language (see :func:`alert_title`)."""
    service = alerts_of(current.request)
    if service is None:
        return {}
    store, rules = service.engine.store, service.engine.config
    return {i: alert_title(store.get(i), rules, current.t) for i in sorted(alert_ids)}


def _own_org(current: Page) -> str | None:
    return current.user.organisation if current.user else None


def _log(
    current: Page,
    action: str,
    target: str,
    affected: tuple[str | None, ...] = (),
    **detail: object,
) -> None:
    """Audit an action under the actor's organisation and the ``affected`` ones."""
    queries.record_admin_action(
        current.conn,
        time=current.now,
        actor=current.signed_in().username,
        organisation=_own_org(current),
        action=action,
        target=target,
        detail=detail,
        affected=affected,
    )


def _admin_page(
    current: Page,
    *,
    message: str = "",
    kind: str = "ok",
    new_token: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    conn, orgs = current.conn, current.orgs
    return render(
        current,
        "admin.html",
        status_code=status_code,
        devices=queries.devices(conn, orgs),
        residents=queries.residents(conn, orgs),
        spo2_scales=spo2_scales(conn),
        homes=queries.homes(conn, orgs),
        users=queries.users(conn, orgs),
        teams=_teams(current),
        message=message,
        message_kind=kind,
        new_token=new_token,
        tokens=authenticator_of(current.request).users.tokens(orgs),
    )


@router.get("/admin", response_class=HTMLResponse)
async def admin(current: AdminPage) -> HTMLResponse:
    return _admin_page(current)


@router.post("/admin/devices", response_class=HTMLResponse)
async def add_device(
    current: AdminPage,
    device_id: Annotated[str, Form(min_length=1, max_length=128)],
    description: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a device, or rename one that belongs to the organisation (or is unclaimed); a
    device of another organisation is not found."""
    device_id = device_id.strip()
    owner: str | None = None
    if queries.device_exists(current.conn, device_id):
        owner = _device_or_404(current, device_id).organisation
    current.hub.registry.add_device(device_id, description.strip())
    _log(current, "device_saved", device_id, (owner,), description=description.strip())
    return RedirectResponse(f"/admin/devices/{device_id}", status_code=303)


@router.post("/admin/residents", response_class=HTMLResponse)
async def add_resident(
    current: AdminPage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    home_id: Annotated[str, Form(min_length=1)],
) -> Response:
    if home_id not in {h.id for h in queries.homes(current.conn, current.orgs)}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_home"))
    made = current.hub.registry.add_resident(name.strip(), home_id)
    affected = (queries.organisation_of_home(current.conn, home_id),)
    _log(current, "resident_added", made.id, affected, name=made.name, home=home_id)
    return _admin_page(current, message=current.t("admin.saved"))


@router.post("/admin/residents/{resident_id}/spo2-scale", response_class=HTMLResponse)
async def set_spo2_scale(
    resident_id: str,
    current: AdminPage,
    scale: Annotated[int, Form(ge=1, le=2)],
) -> Response:
    """Set the NEWS2 SpO2 scale a clinician prescribed for a resident of the organisation
    (another organisation's resident is not found); audited with the scale it had."""
    resident = queries.resident(current.conn, resident_id, current.orgs)
    if resident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_resident"))
    previous = current.hub.registry.set_spo2_scale(resident_id, scale)
    _log(
        current,
        "spo2_scale_set",
        resident_id,
        (resident.organisation,),
        scale=scale,
        previous=previous,
    )
    return _admin_page(current, message=current.t("admin.saved"))


@router.post("/admin/users", response_class=HTMLResponse)
async def add_user(
    current: AdminPage,
    *,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[Role, Form()],
    display_name: Annotated[str, Form(max_length=100)] = "",
    team: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A user of the administrator's own organisation, in teams of that organisation only."""
    organisation = _own_org(current)
    mine = {t.id for t in _teams(current)}
    if any(t not in mine for t in team or ()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_team"))
    users = authenticator_of(current.request).users
    try:
        made = users.create_user(
            username.strip(),
            password,
            role,
            organisation,
            teams=tuple(sorted(set(team or ()))),
            display_name=display_name.strip() or None,
        )
    except (ValueError, UserExistsError) as exc:
        return _admin_page(current, message=str(exc), kind="error", status_code=400)
    _log(current, "user_added", made.username, role=role.value, teams=list(made.teams))
    return _admin_page(current, message=current.t("admin.saved"))


@router.post("/admin/tokens", response_class=HTMLResponse)
async def issue_token(
    current: AdminPage,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    days: Annotated[int | None, Form(ge=1, le=3650)] = None,
) -> Response:
    """A new API token of the signed-in administrator, valid ``days`` (blank: until revoked)."""
    user = current.signed_in()
    ttl = timedelta(days=days) if days else None
    token = authenticator_of(current.request).users.issue_token(user.id, name.strip(), ttl)
    _log(current, "token_issued", name.strip(), days=days)
    return _admin_page(current, new_token=token)


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke_token(token_id: str, current: AdminPage) -> Response:
    """Revoke a token of a user of this administrator's organisation (others: 404)."""
    users = authenticator_of(current.request).users
    found = users.token_info(token_id)
    if found is None or not current.signed_in().may_see(found.organisation):
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_token"))
    if users.revoke_token_id(token_id):
        _log(current, "token_revoked", found.name, (found.organisation,), owner=found.username)
    return _admin_page(current, message=current.t("admin.token_revoked"))


def _teams(current: Page) -> list[queries.TeamView]:
    """The teams a new user of this administrator may join: those of their organisation."""
    organisation = _own_org(current)
    if organisation is None:
        return []
    return queries.teams(current.conn, frozenset({organisation}))


def _device_or_404(current: Page, device_id: str) -> queries.DeviceView:
    """The device if it belongs to the user's organisation or is unclaimed, else 404."""
    found = queries.device(current.conn, device_id, current.orgs)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_device"))
    return found


def _device_page(
    current: Page, device_id: str, message: str = "", kind: str = "ok", status_code: int = 200
) -> HTMLResponse:
    device = _device_or_404(current, device_id)
    local_now = current.now.astimezone(current.settings.zone)
    return render(
        current,
        "device.html",
        status_code=status_code,
        device=device,
        residents=queries.residents(current.conn, current.orgs),
        history=queries.assignments_of_device(current.conn, device_id, current.orgs),
        default_start=local_now.strftime("%Y-%m-%dT%H:%M"),
        message=message,
        message_kind=kind,
    )


@router.get("/admin/devices/{device_id}", response_class=HTMLResponse)
async def device(device_id: str, current: AdminPage) -> HTMLResponse:
    return _device_page(current, device_id)


@router.post("/admin/devices/{device_id}/assign", response_class=HTMLResponse)
async def assign(
    device_id: str,
    current: AdminPage,
    resident_id: Annotated[str, Form(min_length=1)],
    start: Annotated[str, Form(min_length=1, max_length=32)],
) -> Response:
    """Assign a device of the organisation (or an unclaimed one) to one of its residents."""
    owner = _device_or_404(current, device_id).organisation
    resident = queries.resident(current.conn, resident_id, current.orgs)
    if resident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, current.t("errors.no_resident"))
    try:
        begins = datetime.fromisoformat(start).replace(tzinfo=current.settings.zone)
    except ValueError:
        return _device_page(current, device_id, current.t("devices.bad_time"), "error", 400)
    try:
        current.hub.registry.assign(device_id, resident_id, begins)
    except RegistryError as exc:
        return _device_page(current, device_id, exc.problem, "error", 409)
    affected = (owner, resident.organisation)
    _log(
        current,
        "device_assigned",
        device_id,
        affected,
        resident=resident_id,
        start=begins.isoformat(),
    )
    return _device_page(current, device_id, current.t("admin.saved"))


@router.post("/admin/devices/{device_id}/unassign", response_class=HTMLResponse)
async def unassign(device_id: str, current: AdminPage) -> Response:
    owner = _device_or_404(current, device_id).organisation
    current.hub.registry.unassign(device_id, current.now)
    _log(current, "device_unassigned", device_id, (owner,))
    return _device_page(current, device_id, current.t("admin.saved"))
