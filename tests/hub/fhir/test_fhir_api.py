"""The /fhir API of a real hub (uvicorn on 127.0.0.1) with real FHIR clients.

fhirclient (SMART on FHIR's Python client) discovers the token endpoint from the
CapabilityStatement, authenticates with a signed assertion and pages through a consented
resident's observations; fhirpy does the same with an ES384 key and ``_include``. Refusals
(no consent, expired consent, another organisation's resident, wrong audience, replayed jti,
expired or tampered assertion, a scope for another resource) get the right status; a consent
revoked between two pages refuses the second, and the access log shows both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirclient import client as fhir_client
from fhirclient.models.observation import Observation as FcObservation
from fhirpy import SyncFHIRClient

from foundation.clock import utcnow
from hjem.cli import main as hjem
from hub.auth.users import Role, UserStore
from hub.db import Connection
from hub.fhir.access_log import AccessLog, audit_event
from tests.support.fhir import (
    DAY0,
    Keys,
    ThreadedHub,
    assertion,
    make_keys,
    prepare_registry,
    send_readings,
)
from tests.support.hub_db import ENGINES, HubDatabases, engine_databases

pytestmark = pytest.mark.slow
FHIR_JSON = "application/fhir+json"
SCOPES = "system/Observation.rs system/Patient.rs system/Device.rs"


@dataclass(frozen=True, slots=True)
class Stand:
    hub: ThreadedHub
    databases: HubDatabases
    config: Path
    keys: Keys
    residents: dict[str, str]
    stored: dict[str, set[str]]

    @property
    def token_url(self) -> str:
        return f"{self.hub.base}/fhir/auth/token"

    def admin(self, *args: str) -> None:
        assert hjem(["admin", *args, "--config", str(self.config)]) == 0

    def token(self, scope: str = SCOPES, **claims: Any) -> httpx.Response:
        signed = assertion(self.keys, "hospital-app", self.token_url, **claims)
        return httpx.post(self.token_url, data=_form(signed, scope), timeout=30)

    def access(self, scope: str = SCOPES) -> dict[str, str]:
        answer = self.token(scope)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def log(self) -> AccessLog:
        return AccessLog(self.databases.open())


def _form(signed: str, scope: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
        "scope": scope,
    }


@pytest.fixture(scope="module", params=ENGINES)
def stand(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stand]:
    tmp = tmp_path_factory.mktemp("fhir")
    with engine_databases(request, tmp) as databases:
        yield from _stand(databases, tmp)


def _stand(databases: HubDatabases, tmp: Path) -> Iterator[Stand]:
    config = databases.write_toml()
    residents, vendor_token = prepare_registry(databases)
    keys = make_keys()
    jwks = tmp / "hospital-app.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()), encoding="utf-8")
    with ThreadedHub(databases) as hub:
        stored = {
            name: send_readings(hub.base, vendor_token, name, count)
            for name, count in (("Anna", 230), ("Bent", 20), ("Carl", 20))
        }
        stand = Stand(hub, databases, config, keys, residents, stored)
        stand.admin("add-fhir-client", "hospital-app", "--organisation", "hospital",
                    "--jwks", str(jwks))  # fmt: skip
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        start = (DAY0 - timedelta(days=10)).isoformat()
        terms = (("Anna", "hospital", None), ("Bent", "hospital", past), ("Carl", "gp", None))
        for name, recipient, until in terms:
            end = ("--until", until) if until else ()
            stand.admin("add-consent", residents[name], "--recipient", recipient,
                        "--purpose", "TREAT", "--from", start, *end)  # fmt: skip
        yield stand


def test_fhirclient_pages_through_exactly_the_stored_set(stand: Stand) -> None:
    anna = stand.residents["Anna"]
    smart = fhir_client.FHIRClient(
        settings={
            "app_id": "hospital-app",
            "api_base": f"{stand.hub.base}/fhir/",
            "jwt_token": assertion(stand.keys, "hospital-app", stand.token_url),
            "scope": SCOPES,
        }
    )
    smart.wants_patient = False
    smart.prepare()
    smart.server.authorize()
    search = FcObservation.where(struct={"patient": anna, "_count": "40"})
    pages = list(search.perform_iter(smart.server))
    ids = [entry.resource.id for page in pages for entry in page.entry or []]
    assert len(pages) == math.ceil(230 / 40)
    assert len(ids) == len(set(ids)) == 230
    assert set(ids) == stand.stored["Anna"]
    first = pages[0].entry[0].resource
    assert first.subject.reference == f"Patient/{anna}"
    assert first.device.reference.startswith("Device/dev-anna")
    times = [e.resource.effectiveDateTime.datetime for p in pages for e in p.entry or []]
    assert times == sorted(times)


def test_fhirpy_es384_include_and_filters(stand: Stand) -> None:
    signed = assertion(stand.keys, "hospital-app", stand.token_url, ec=True)
    answer = httpx.post(stand.token_url, data=_form(signed, SCOPES), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] <= 300
    client = SyncFHIRClient(
        f"{stand.hub.base}/fhir", authorization=f"Bearer {answer.json()['access_token']}"
    )
    anna = stand.residents["Anna"]
    temperature = client.resources("Observation").search(
        patient=anna, code="http://loinc.org|8310-5"
    )
    found = temperature.limit(50).fetch_all()
    assert len(found) == 115
    assert all(o["code"]["coding"][0]["code"] for o in found)
    window = client.resources("Observation").search(
        patient=anna, date=[f"ge{DAY0.date()}", f"lt{(DAY0 + timedelta(days=3)).date()}"]
    )
    assert 0 < len(window.limit(100).fetch_all()) < 230
    page = client.resources("Observation").search(patient=f"Patient/{anna}").include(
        "Observation", "device"
    ).limit(10).fetch_raw()  # fmt: skip
    modes = [e["search"]["mode"] for e in page["entry"]]
    assert modes.count("match") == 10
    assert modes.count("include") == 1
    device = next(e["resource"] for e in page["entry"] if e["search"]["mode"] == "include")
    assert device["resourceType"] == "Device"
    assert device["id"] == "dev-anna"
    patient = client.reference("Patient", anna).to_resource()
    assert patient["name"] == [{"text": "Anna"}]
    assert patient["identifier"] == [{"system": "urn:hjem:resident", "value": anna}]


def _status(stand: Stand, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{stand.hub.base}/fhir/{path}", headers=headers, timeout=30)
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    return answer.status_code, answer.json()


def test_refusals_have_the_right_status(stand: Stand) -> None:
    headers = stand.access()
    for name in ("Bent", "Carl"):  # expired consent; another organisation's resident
        code, body = _status(stand, f"Observation?patient={stand.residents[name]}", headers)
        assert (code, body["resourceType"]) == (403, "OperationOutcome")
        code, _ = _status(stand, f"Patient/{stand.residents[name]}", headers)
        assert code == 403
    everyone, _ = _status(stand, "Observation?_count=1000", headers)
    assert everyone == 200
    code, body = _status(stand, "Observation?_count=1000", headers)
    refs = {e["resource"]["subject"]["reference"] for e in body["entry"]}
    assert refs == {f"Patient/{stand.residents['Anna']}"}
    assert _status(stand, "Observation", {})[0] == 401
    assert _status(stand, "Observation", {"Authorization": "Bearer nope"})[0] == 401
    assert _status(stand, "Observation?bogus=1", headers)[0] == 400
    assert _status(stand, "Condition", headers)[0] == 404
    patients_only = stand.access("system/Patient.rs")
    assert _status(stand, "Observation", patients_only)[0] == 403
    assert _status(stand, f"Patient/{stand.residents['Anna']}", patients_only)[0] == 200


def test_token_endpoint_refuses_bad_assertions(stand: Stand) -> None:
    assert stand.token(aud="http://127.0.0.1:1/fhir/auth/token").status_code == 401
    used = assertion(stand.keys, "hospital-app", stand.token_url)
    first = httpx.post(stand.token_url, data=_form(used, SCOPES), timeout=30)
    again = httpx.post(stand.token_url, data=_form(used, SCOPES), timeout=30)
    assert (first.status_code, again.status_code) == (200, 401)
    assert "replay" in again.json()["error_description"]
    expired = stand.token(exp=int(datetime.now(UTC).timestamp()) - 10)
    assert (expired.status_code, expired.json()["error"]) == (401, "invalid_client")
    assert stand.token(exp=int(datetime.now(UTC).timestamp()) + 3600).status_code == 401
    assert stand.token(sub="someone-else").status_code == 401
    head, payload, signature = assertion(stand.keys, "hospital-app", stand.token_url).split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    tampered = httpx.post(stand.token_url, data=_form(forged, SCOPES), timeout=30)
    assert tampered.status_code == 401
    other = stand.token(scope="system/Condition.rs")
    assert (other.status_code, other.json()["error"]) == (400, "invalid_scope")


def _staff_token(stand: Stand, username: str, organisation: str) -> dict[str, str]:
    store = UserStore(stand.databases.open(), utcnow)
    user = store.create_user(username, "correct horse battery staple 42", Role.CARE_STAFF,
                             organisation)  # fmt: skip
    return {"Authorization": f"Bearer {store.issue_token(user.id, 'fhir test')}"}


def test_staff_api_is_organisation_scoped(stand: Stand) -> None:
    ours = _staff_token(stand, "nurse-a", "kommune-a")
    theirs = _staff_token(stand, "nurse-b", "kommune-b")
    api = f"{stand.hub.base}/api/v1/fhir"
    bent = stand.residents["Bent"]
    terms = {"resident": bent, "recipient": "gp", "purpose": "CAREMGT", "start": DAY0.isoformat()}
    refused = httpx.post(f"{api}/consents", json=terms, headers=theirs, timeout=30)
    assert refused.status_code == 403
    made = httpx.post(f"{api}/consents", json=terms, headers=ours, timeout=30)
    assert made.status_code == 201, made.text
    assert made.json()["provision"]["purpose"][0]["code"] == "CAREMGT"
    revoke = httpx.post(f"{api}/consents/{made.json()['id']}/revoke", headers=theirs, timeout=30)
    assert revoke.status_code == 403
    revoke = httpx.post(f"{api}/consents/{made.json()['id']}/revoke", headers=ours, timeout=30)
    assert (revoke.status_code, revoke.json()["status"]) == (200, "inactive")
    anna = stand.residents["Anna"]
    outcomes = {}
    for name in ("Anna", "Bent"):  # Anna's data served, Bent's refused (expired consent)
        log = httpx.get(
            f"{api}/access-log", params={"resident": stand.residents[name]}, headers=ours
        )
        events = [e["resource"] for e in log.json()["entry"]]
        assert all(ev["resourceType"] == "AuditEvent" for ev in events)
        outcomes[name] = {ev["outcome"] for ev in events}
    assert outcomes == {"Anna": {"0"}, "Bent": {"4"}}
    hidden = httpx.get(f"{api}/access-log", params={"resident": anna}, headers=theirs, timeout=30)
    assert hidden.json()["total"] == 0
    listed = httpx.get(f"{api}/consents", headers=theirs, timeout=30).json()
    patients = {e["resource"]["patient"]["reference"] for e in listed["entry"]}
    assert patients == {f"Patient/{stand.residents['Carl']}"}


def test_metadata_and_discovery_say_what_is_served(stand: Stand) -> None:
    answer = httpx.get(f"{stand.hub.base}/fhir/metadata", timeout=30)
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    rest = answer.json()["rest"][0]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == {"Observation", "Patient", "Device"}
    names = {p["name"] for p in served["Observation"]["searchParam"]}
    assert names == {"patient", "code", "date", "category", "_lastUpdated", "_count"}
    assert served["Observation"]["searchInclude"] == ["Observation:device"]
    uris = rest["security"]["extension"][0]["extension"]
    assert uris == [{"url": "token", "valueUri": stand.token_url}]
    smart = httpx.get(f"{stand.hub.base}/.well-known/smart-configuration", timeout=30).json()
    assert smart["token_endpoint"] == stand.token_url
    assert smart["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]


def test_category_and_last_updated_filter(stand: Stand) -> None:
    headers = stand.access()
    bent = stand.residents["Bent"]  # consent expired: refused even with filters
    assert _status(stand, f"Observation?patient={bent}&category=vital-signs", headers)[0] == 403
    carl_free = "Observation?_count=1000&category=vital-signs"
    code, body = _status(stand, carl_free, headers)
    assert code == 200
    assert len(body["entry"]) == 230  # Anna's: temperature and heart rate are vital signs
    assert all(
        any(c["code"] == "vital-signs" for cat in e["resource"]["category"] for c in cat["coding"])
        for e in body["entry"]
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    code, later = _status(stand, f"Observation?_lastUpdated=ge{tomorrow}", headers)
    assert (code, later["entry"]) == (200, [])
    assert _status(stand, "Observation?date=ge2026-13-01", headers)[0] == 400


def test_revoked_consent_refuses_the_next_page(stand: Stand) -> None:
    headers = stand.access()
    anna = stand.residents["Anna"]
    url = f"{stand.hub.base}/fhir/Observation?patient={anna}&_count=100"
    first = httpx.get(url, headers=headers, timeout=30)
    assert first.status_code == 200
    following = {link["relation"]: link["url"] for link in first.json()["link"]}["next"]
    conn = stand.databases.open()
    consent = conn.execute("SELECT id FROM fhir_consent WHERE resident_id = ?", (anna,))
    stand.admin("revoke-consent", str(consent.fetchone()[0]), "--organisation", "kommune-a")
    second = httpx.get(following, headers=headers, timeout=30)
    assert second.status_code == 403
    entries = stand.log().entries(frozenset({"kommune-a"}), resident_id=anna, limit=2)
    assert [(e.status, e.returned) for e in entries] == [(403, 0), (200, 100)]
    assert entries[0].query.endswith(following.split("/fhir/Observation", 1)[1])
    assert _audit_events(conn, anna) >= 2


def _audit_events(conn: Connection, resident: str) -> int:
    log = AccessLog(conn)
    events = [audit_event(e) for e in log.entries(None, resident_id=resident)]
    assert all(ev["resourceType"] == "AuditEvent" for ev in events)
    return len(events)


def test_list_consents_from_the_hubs_database(
    stand: Stand, capsys: pytest.CaptureFixture[str]
) -> None:
    carl = stand.residents["Carl"]
    args = ["admin", "list-consents", "--organisation", "kommune-b", "--config", str(stand.config)]
    assert hjem(args) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.split("\t")[1:4] == [carl, "gp", "TREAT"]
    assert line.endswith("\tactive")
    assert hjem([*args, "--fhir"]) == 0
    [resource] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (resource["resourceType"], resource["patient"]) == (
        "Consent",
        {"reference": f"Patient/{carl}"},
    )
