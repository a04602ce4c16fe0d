"""The test server itself: Medplum's router answers as a FHIR server should, and its
validator refuses what the R4 StructureDefinitions refuse (so the push tests can trust it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from foundation.clock import utcnow
from schemas.fhir import bundle_json, to_bundle
from schemas.validation import validate_batch
from tests.support.medplum import MedplumServer

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "valid"


def _bundle(name: str) -> dict[str, Any]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    result = validate_batch(text, now=utcnow())
    assert not result.errors
    bundle: dict[str, Any] = json.loads(bundle_json(to_bundle(result.accepted, "Patient/r1")))
    return bundle


def _post(server: MedplumServer, body: object, token: str | None = None) -> httpx.Response:
    return httpx.post(
        server.base,
        content=json.dumps(body),
        headers={
            "Authorization": f"Bearer {token or server.token}",
            "Content-Type": "application/fhir+json",
        },
        timeout=30,
    )


def test_conditional_create_makes_each_resource_once(medplum: MedplumServer) -> None:
    bundle = _bundle("blood-pressure.json")
    first = _post(medplum, bundle)
    again = _post(medplum, bundle)
    assert first.status_code == again.status_code == 200, first.text
    assert {e["response"]["status"] for e in first.json()["entry"]} == {"201"}
    assert {e["response"]["status"] for e in again.json()["entry"]} == {"200"}
    observations = sum(e["resource"]["resourceType"] == "Observation" for e in bundle["entry"])
    assert medplum.count("Observation") == observations


def test_an_invalid_resource_is_refused_with_its_outcome(medplum: MedplumServer) -> None:
    bundle = _bundle("blood-pressure.json")
    bundle["entry"][-1]["resource"]["effectiveDateTime"] = "yesterday"
    response = _post(medplum, bundle)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("effective" in e for i in outcome["issue"] for e in i.get("expression", []))
    assert medplum.count("Observation") == 0
    assert medplum.stats()["refused"] == 1


def test_a_wrong_token_is_refused(medplum: MedplumServer) -> None:
    response = _post(medplum, _bundle("blood-pressure.json"), token="not-the-token")
    assert response.status_code == 401
    assert medplum.count("Observation") == 0


def test_a_restarted_server_keeps_what_it_had(medplum: MedplumServer) -> None:
    assert _post(medplum, _bundle("blood-pressure.json")).status_code == 200
    before = medplum.count("Observation")
    port = medplum.port
    medplum.restart()
    assert medplum.port == port
    assert medplum.count("Observation") == before > 0
