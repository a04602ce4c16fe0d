"""The staff side of sharing, in the hub's JSON API (signed-in users, organisation-scoped):
the consents of the user's residents (recorded and revoked here too) and the FHIR access log
of requests about them, as FHIR ``Consent`` and ``AuditEvent`` Bundles.

``GET /api/v1/fhir/consents``, ``POST /api/v1/fhir/consents`` (resident, recipient, purpose,
start, end), ``POST /api/v1/fhir/consents/{id}/revoke`` and ``GET /api/v1/fhir/access-log
[?resident=...]``. A user sees and changes only what belongs to their organisation (a system
administrator: everything); each change is audited with the user as actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from hub.auth import User, current_user
from hub.fhir.access_log import audit_event
from hub.fhir.api import room_of
from hub.fhir.consent import Consent, consent_resource
from hub.fhir.errors import ConsentError

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/fhir", tags=["sharing"])
StaffUser = Annotated[User, Depends(current_user)]


class ConsentRequest(BaseModel):
    resident: str = Field(description="the resident id (r-...)")
    recipient: str = Field(description="the recipient organisation (in the registry)")
    purpose: str = Field(description="TREAT, ETREAT, CAREMGT, PUBHLTH, HRESCH or HOPERAT")
    start: datetime = Field(description="from (with a UTC offset)")
    end: datetime | None = Field(default=None, description="until, exclusive (none: until revoked)")


def _collection(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def _actor(user: User) -> str:
    return f"user:{user.username}"


def _consent(request: Request, consent: Consent) -> dict[str, Any]:
    return consent_resource(consent, room_of(request).clock())


@router.get("/consents")
async def list_consents(request: Request, user: StaffUser) -> dict[str, Any]:
    """Consents of the user's organisation's residents, or given to it, as FHIR Consent."""
    listed = room_of(request).consents.listing(user.organisations())
    return _collection([_consent(request, c) for c in listed])


def _refused(exc: ConsentError) -> HTTPException:
    missing = "no such" in exc.problem
    code = status.HTTP_404_NOT_FOUND if missing else status.HTTP_422_UNPROCESSABLE_CONTENT
    if "another organisation" in exc.problem:
        code = status.HTTP_403_FORBIDDEN
    return HTTPException(code, str(exc))


@router.post("/consents", status_code=status.HTTP_201_CREATED)
async def add_consent(request: Request, user: StaffUser, body: ConsentRequest) -> dict[str, Any]:
    """Record a consent for a resident of the user's organisation."""
    consents = room_of(request).consents
    try:
        consent = consents.add(
            body.resident,
            body.recipient,
            body.purpose,
            body.start,
            body.end,
            actor=_actor(user),
            actor_orgs=user.organisations(),
        )
    except ConsentError as exc:
        raise _refused(exc) from exc
    return _consent(request, consent)


@router.post("/consents/{consent_id}/revoke")
async def revoke_consent(request: Request, user: StaffUser, consent_id: int) -> dict[str, Any]:
    """Revoke a consent of the user's organisation, from now."""
    consents = room_of(request).consents
    try:
        consent = consents.revoke(consent_id, actor=_actor(user), actor_orgs=user.organisations())
    except ConsentError as exc:
        raise _refused(exc) from exc
    return _consent(request, consent)


@router.get("/access-log")
async def access_log(
    request: Request, user: StaffUser, resident: str | None = None
) -> dict[str, Any]:
    """FHIR API requests about the organisation's residents (or by its clients), newest
    first, as FHIR AuditEvent."""
    entries = room_of(request).access_log.entries(user.organisations(), resident_id=resident)
    return _collection([audit_event(e) for e in entries])
