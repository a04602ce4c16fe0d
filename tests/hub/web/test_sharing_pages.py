"""The sharing pages on the server side (httpx over ASGI, real hub database): a consent is
recorded and revoked only by staff of the resident's organisation, checked on the server
whatever the form says; each change is audited with the user as actor; forms need the CSRF
token; the access log page lists only requests about the organisation's residents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.fhir.access_log import AccessLog
from hub.fhir.consent import Consents
from hub.web import queries
from tests.hub.web.conftest import SignedIn
from tests.support.browser import T0, FastWorld

pytestmark = pytest.mark.asyncio
JSON = {"Accept": "application/json"}


def _form(csrf: str, resident: str = "r-anna", **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "resident_id": resident,
        "recipient": "hospital",
        "purpose": "TREAT",
        "start": "2026-11-30T09:00",
        **extra,
    }


async def test_staff_record_and_revoke_their_residents_consent(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.hub.registry.add_organisation("hospital", "Aarhus Universitetshospital")
    sara, csrf = await signed_in("sara")
    made = await sara.post(
        "/sharing/consents", data=_form(csrf, end="2027-01-01T00:00"), headers=JSON
    )
    assert made.status_code == 201, made.text
    consent_id = made.json()["id"]
    stored = Consents(world.hub.conn).get(consent_id)
    assert stored is not None
    assert (stored.resident_id, stored.organisation, stored.recorded_by) == (
        "r-anna",
        "org-a",
        "sara",
    )
    assert stored.start == T0  # 09:00 in Copenhagen is 08:00 UTC
    page = (await sara.get("/sharing")).text
    assert f'data-consent-id="{consent_id}" data-state="active"' in page
    assert "Aarhus Universitetshospital" in page

    revoked = await sara.post(
        f"/sharing/consents/{consent_id}/revoke", data={"csrf_token": csrf}, headers=JSON
    )
    assert revoked.status_code == 200, revoked.text
    again = await sara.post(
        f"/sharing/consents/{consent_id}/revoke", data={"csrf_token": csrf}, headers=JSON
    )
    assert again.status_code == 422
    assert "already revoked" in again.json()["message"]
    actions = [
        (a.action, a.actor, a.target)
        for a in queries.admin_actions(world.hub.conn, frozenset({"org-a"}))
    ]
    assert ("consent_added", "sara", f"Consent/{consent_id}") in actions
    assert ("consent_revoked", "sara", f"Consent/{consent_id}") in actions
    audit = (await sara.get("/audit")).text
    assert "Samtykke til deling registreret" in audit


async def test_another_organisation_cannot_see_record_or_revoke(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.hub.registry.add_organisation("hospital", "Aarhus Universitetshospital")
    consent = Consents(world.hub.conn).add(
        "r-anna", "hospital", "TREAT", T0, None, actor="sara", actor_orgs=frozenset({"org-a"})
    )
    bo, csrf = await signed_in("bo")
    assert f'data-consent-id="{consent.id}"' not in (await bo.get("/sharing")).text
    refused = await bo.post(
        f"/sharing/consents/{consent.id}/revoke", data={"csrf_token": csrf}, headers=JSON
    )
    assert refused.status_code == 404
    plain = await bo.post(f"/sharing/consents/{consent.id}/revoke", data={"csrf_token": csrf})
    assert plain.status_code == 404
    assert "text/html" in plain.headers["content-type"]
    for_anna = await bo.post("/sharing/consents", data=_form(csrf), headers=JSON)
    assert for_anna.status_code == 404
    assert "no such resident" in for_anna.json()["message"]
    after = Consents(world.hub.conn)
    assert after.get(consent.id) is not None
    assert after.get(consent.id).revoked_at is None  # type: ignore[union-attr]
    assert [c.resident_id for c in after.listing(None)] == ["r-anna"]  # nothing recorded for Bo

    own, _ = await signed_in("sara")
    no_token = await own.post(f"/sharing/consents/{consent.id}/revoke", data={}, headers=JSON)
    assert no_token.status_code == 403  # the CSRF guard
    assert after.get(consent.id).revoked_at is None  # type: ignore[union-attr]


async def test_bad_terms_are_refused_with_the_reason(world: FastWorld, signed_in: SignedIn) -> None:
    sara, csrf = await signed_in("sara")
    unknown = await sara.post("/sharing/consents", data=_form(csrf), headers=JSON)
    assert unknown.status_code == 422
    assert "'hospital' is not in the registry" in unknown.json()["message"]
    world.hub.registry.add_organisation("hospital", "Hospital")
    bad_time = await sara.post(
        "/sharing/consents", data=_form(csrf, start="i morgen"), headers=JSON
    )
    assert bad_time.status_code == 422
    assert "i morgen" in bad_time.json()["message"]
    backwards = await sara.post(
        "/sharing/consents", data=_form(csrf, end="2026-11-29T09:00"), headers=JSON
    )
    assert backwards.status_code == 422
    assert "before it starts" in backwards.json()["message"]
    assert Consents(world.hub.conn).listing(None) == []


async def test_access_log_page_shows_only_the_organisations_residents(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.hub.registry.add_organisation("hospital", "Aarhus Universitetshospital")
    log = AccessLog(world.hub.conn)
    for resident, returned in (("r-anna", 7), ("r-bent", 4)):
        log.record(
            time=T0 - timedelta(minutes=1),
            client_id="hospital-app",
            organisation="hospital",
            residents=[resident],
            method="GET",
            query=f"/fhir/Observation?patient={resident}",
            returned=returned,
            status=200,
        )
    sara, _ = await signed_in("sara")
    page = (await sara.get("/sharing/access-log")).text
    assert "patient=r-anna" in page
    assert "Anna Jensen" in page
    assert "r-bent" not in page
    bo, _ = await signed_in("bo")
    other = (await bo.get("/sharing/access-log")).text
    assert "patient=r-bent" in other
    assert "r-anna" not in other
