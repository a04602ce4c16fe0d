"""The alerts HTTP API (FastAPI router), authenticated with :mod:`hub.auth`.

``GET /api/v1/alerts?state=...``, ``GET /api/v1/alerts/stream`` (server-sent events),
``GET /api/v1/alerts/{id}``, ``POST /api/v1/alerts/{id}/ack``, ``POST .../resolve`` (note),
``GET .../audit``, and silences (admin: ``GET``/``POST /api/v1/alerts/silences``,
``DELETE .../silences/{id}``). Users see only alerts of their organisation; a silence
belongs to its creator's organisation and silences only that organisation's alerts.
Errors are RFC 9457 problem details (``application/problem+json``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from foundation.waiting import wait_for
from hub.alerts.errors import AlertNotFoundError, AlertsError, InvalidTransitionError
from hub.alerts.notify import LiveEvent
from hub.alerts.service import AlertService
from hub.alerts.store import AlertRow, AuditEntry, Silence
from hub.auth import SESSION_COOKIE, Role, User, current_user, require_role
from hub.auth.errors import NotAuthenticatedError
from hub.auth.web import find_authenticator
from hub.problems import problem_uri
from schemas.models import AlertState, Severity, encode

__all__ = ["ALERTS_STATE", "AlertView", "alert_service", "install_alerts", "problem", "router"]


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": problem_uri(title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class _ProblemRoute(APIRoute):
    """Turn HTTP and alert errors (also from dependencies) into problem details."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                titles = {
                    401: "Not authenticated",
                    403: "Forbidden",
                    404: "Not found",
                    422: "Invalid request",
                    503: "Unavailable",
                }
                response = problem(
                    exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
                )
                response.headers.update(exc.headers or {})
                return response
            except RequestValidationError as exc:
                errors = [
                    {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                    for e in exc.errors()
                ]
                return problem(422, "Invalid request", "the request is not valid", errors=errors)
            except AlertNotFoundError as exc:
                return problem(404, "Not found", f"no alert {exc.alert_id!r}")
            except InvalidTransitionError as exc:
                return problem(409, "Conflict", str(exc), state=exc.state.value)
            except AlertsError as exc:
                return problem(503, "Unavailable", str(exc))

        return wrapped


class TriggerView(BaseModel):
    """The reading that opened the alert (or last re-opened or raised it)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    unit: str | None
    time: datetime | None
    detail: dict[str, Any]


class AckView(BaseModel):
    """The latest acknowledgement: user name, time and note."""

    model_config = ConfigDict(frozen=True)

    by: str
    time: datetime
    note: str | None


class AlertView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    rule: str
    resident: str | None
    home: str | None
    organisation: str | None
    state: AlertState
    severity: Severity
    summary: str
    assignee: str | None
    sequence: int
    opened: datetime
    updated: datetime
    escalation_level: int
    next_notify: datetime | None
    trigger: TriggerView | None = None
    acknowledged: AckView | None = None

    @classmethod
    def of(cls, row: AlertRow, ack: AuditEntry | None = None) -> AlertView:
        trigger = None
        if row.trigger_time is not None or row.trigger_value is not None or row.trigger_detail:
            trigger = TriggerView(
                value=row.trigger_value,
                unit=row.trigger_unit,
                time=row.trigger_time,
                detail=row.trigger_detail,
            )
        acked = AckView(by=ack.actor, time=ack.time, note=ack.note) if ack else None
        return cls(
            id=row.id,
            rule=row.rule,
            resident=row.resident,
            home=row.home,
            organisation=row.organisation,
            state=row.state,
            severity=row.severity,
            summary=row.summary,
            assignee=row.assignee,
            sequence=row.sequence,
            opened=row.opened,
            updated=row.updated,
            escalation_level=row.escalation_level,
            next_notify=row.next_notify,
            trigger=trigger,
            acknowledged=acked,
        )


def _views(service: AlertService, rows: list[AlertRow]) -> list[AlertView]:
    acks = service.engine.store.acknowledgements(r.id for r in rows)
    return [AlertView.of(r, acks.get(r.id)) for r in rows]


class AuditView(BaseModel):
    sequence: int
    time: datetime
    actor: str
    action: str
    from_state: AlertState | None
    to_state: AlertState
    note: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditView:
        return cls(
            sequence=entry.sequence,
            time=entry.time,
            actor=entry.actor,
            action=entry.action,
            from_state=entry.from_state,
            to_state=entry.to_state,
            note=entry.note,
            detail=entry.detail,
        )


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(max_length=512)] | None = None


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(min_length=1, max_length=512)]


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=512)]
    ends: datetime
    starts: datetime | None = None
    rule: str | None = None
    resident: str | None = None
    subject: str | None = None


CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]


def _sse(item: LiveEvent) -> str:
    event = item.event
    return (
        f"id: {event.alert_id}:{event.sequence}\nevent: alert\ndata: {encode(event).decode()}\n\n"
    )


ALERTS_STATE = "hjem_alerts"


def install_alerts(app: FastAPI, service: AlertService) -> None:
    """Make ``service`` the one the router uses (else it uses ``app.state.hub.alerts``)."""
    setattr(app.state, ALERTS_STATE, service)


def alert_service(request: Request) -> AlertService:
    """FastAPI dependency: the running alert service, or 503."""
    service = getattr(request.app.state, ALERTS_STATE, None)
    if service is None:
        service = getattr(getattr(request.app.state, "hub", None), "alerts", None)
    if not isinstance(service, AlertService):
        raise HTTPException(503, "alerts are not running")
    return service


Service = Annotated[AlertService, Depends(alert_service)]
router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], route_class=_ProblemRoute)
"""The alerts API; the hub includes it via ``hub.app.ROUTERS``."""


def _visible(service: AlertService, user: User, alert_id: str) -> AlertRow:
    row = service.engine.store.get(alert_id)
    if not user.may_see(row.organisation):
        raise AlertNotFoundError(alert_id)
    return row


@router.get("")
async def list_alerts(
    user: CurrentUser,
    service: Service,
    state: Annotated[list[AlertState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertView]:
    rows = service.engine.store.find(organisations=user.organisations(), states=state, limit=limit)
    return _views(service, rows)


async def _events(
    service: AlertService, user: User, still_valid: Callable[[], bool]
) -> AsyncIterator[str]:
    """The stream; it ends as soon as its session or token no longer authenticates (checked
    before every event and every keepalive, so at least every keepalive interval)."""
    keepalive = service.settings.stream_keepalive_seconds
    async with service.broadcaster.subscribe() as subscription:
        yield ": subscribed\n\n"
        iterator = aiter(subscription)
        while True:
            try:
                item = await wait_for(anext(iterator), keepalive)
            except TimeoutError:
                if not still_valid():
                    return
                yield ": keepalive\n\n"
                continue
            except StopAsyncIteration:
                return
            if not still_valid():
                return
            if user.may_see(item.organisation):
                yield _sse(item)


def _still_signed_in(request: Request) -> Callable[[], bool]:
    """Whether the request's token or session still authenticates (sign-out, expiry,
    revocation, a password change or a deactivated user end it)."""
    authorization = request.headers.get("authorization")
    session = request.cookies.get(SESSION_COOKIE)

    def check() -> bool:
        auth = find_authenticator(request.app)
        try:
            return auth is not None and bool(auth.authenticate(authorization, session))
        except NotAuthenticatedError:
            return False

    return check


@router.get("/stream", response_class=StreamingResponse)
async def stream(request: Request, user: CurrentUser, service: Service) -> StreamingResponse:
    """Server-sent events: one ``alert`` event per state change the user may see."""
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(service, user, _still_signed_in(request)),
        media_type="text/event-stream",
        headers=headers,
    )


def _silence_view(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "organisation": s.organisation,
        "rule": s.rule,
        "resident": s.resident,
        "subject": s.subject,
        "starts": s.starts.isoformat(),
        "ends": s.ends.isoformat(),
        "reason": s.reason,
        "created_by": s.created_by,
    }


@router.get("/silences")
async def list_silences(user: Admin, service: Service) -> list[dict[str, Any]]:
    """The silences that apply to the user's organisation (its own and global ones)."""
    orgs = user.organisations()
    return [
        _silence_view(s)
        for s in service.engine.store.silences(service.engine.clock())
        if orgs is None or s.organisation is None or s.organisation in orgs
    ]


@router.post("/silences", status_code=201)
async def add_silence(user: Admin, service: Service, body: SilenceBody) -> dict[str, str]:
    """A silence of the administrator's organisation (a system administrator's: global)."""
    orgs = user.organisations()
    organisation = None if orgs is None else user.organisation
    resident = body.resident
    store = service.engine.store
    # a resident of another organisation (or none known here) is not found
    if orgs is not None and resident and store.resident_organisation(resident) != organisation:
        raise HTTPException(404, f"no resident {resident!r}")
    silence = service.engine.silence(
        actor=user.username,
        reason=body.reason,
        ends=body.ends,
        starts=body.starts,
        rule=body.rule,
        resident=body.resident,
        subject=body.subject,
        organisation=organisation,
    )
    return {"id": silence.id}


@router.delete("/silences/{silence_id}", status_code=204)
async def end_silence(silence_id: str, user: Admin, service: Service) -> Response:
    """End a silence of the user's organisation now (global ones: system administrators)."""
    found = service.engine.store.silence(silence_id)
    orgs = user.organisations()
    if found is None or (orgs is not None and found.organisation not in orgs):
        raise HTTPException(404, f"no silence {silence_id!r}")
    if not service.engine.end_silence(silence_id, user.username):
        return problem(409, "Conflict", f"silence {silence_id!r} is already over")
    return Response(status_code=204)


@router.get("/{alert_id}")
async def get_alert(alert_id: str, user: CurrentUser, service: Service) -> AlertView:
    return _views(service, [_visible(service, user, alert_id)])[0]


@router.post("/{alert_id}/ack")
async def acknowledge(
    alert_id: str, user: CurrentUser, service: Service, body: AckBody | None = None
) -> AlertView:
    _visible(service, user, alert_id)
    service.engine.acknowledge(alert_id, user.username, body.note if body else None)
    return _views(service, [service.engine.store.get(alert_id)])[0]


@router.post("/{alert_id}/resolve")
async def resolve(
    alert_id: str, user: CurrentUser, service: Service, body: ResolveBody
) -> AlertView:
    _visible(service, user, alert_id)
    service.engine.resolve(alert_id, user.username, body.note)
    return _views(service, [service.engine.store.get(alert_id)])[0]


@router.get("/{alert_id}/audit")
async def audit(alert_id: str, user: CurrentUser, service: Service) -> list[AuditView]:
    _visible(service, user, alert_id)
    return [AuditView.of(e) for e in service.engine.audit(alert_id)]
