"""What the push tests share: a registry with two residents in one organisation and a
hospital, observations of theirs, and an in-process FHIR answer for the memory transport."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.fhir.push.transport import HttpAnswer
from hub.registry.core import Registry
from hub.store.base import StoredObservation
from schemas.builders import component, make_observation
from schemas.models import DeviceInfo, Observation, Source
from tests.support.medplum import MedplumServer

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
ANNA = "r-aaaaaaaaaaaaaaaa"
"""Consents to the hospital in the tests."""
BENT = "r-bbbbbbbbbbbbbbbb"
"""Never consents."""
HOSPITAL = "hospital"
VENDOR = "vendor-x"
DEVICES = {ANNA: "thermo-anna", BENT: "thermo-bent"}
CUFF = "cuff-anna"


def setup_registry(registry: Registry, *, start: datetime = T0) -> Registry:
    registry.add_organisation("kommune-a", "Kommune A")
    registry.add_organisation(HOSPITAL, "Hospital")
    registry.add_team("team-a", "kommune-a", "A")
    registry.add_home("home-a", team_id="team-a")
    registry.add_resident("Anna", "home-a", resident_id=ANNA)
    registry.add_resident("Bent", "home-a", resident_id=BENT)
    registry.add_publisher(VENDOR, "vendor")
    since = start - timedelta(days=1)
    for resident, device in [*DEVICES.items(), (ANNA, CUFF)]:
        registry.assign(device, resident, since)
        registry.bind(device, VENDOR, since)
    return registry


def reading(device: str, index: int, *, start: datetime = T0) -> Observation:
    source = Source(publisher=VENDOR, device=DeviceInfo(id=device))
    when = start + timedelta(minutes=index)
    if device == CUFF:
        return make_observation(
            "blood_pressure",
            source=source,
            effective=when,
            components=[
                component("blood_pressure_systolic", str(120 + index % 20)),
                component("blood_pressure_diastolic", str(80 + index % 10)),
            ],
        )
    return make_observation(
        "body_temperature", source=source, effective=when, value=f"36.{index % 10}"
    )


def stored(resident: str, device: str, index: int, *, start: datetime = T0) -> StoredObservation:
    return StoredObservation(reading(device, index, start=start), VENDOR, resident, start)


@dataclass
class MemoryFhir:
    """Enough of a FHIR server for the unit tests: transactions with conditional creates
    (by ``ifNoneExist``), an answer status to force, the Bundles it received."""

    status: int = 200
    refuse: set[str] = field(default_factory=set)
    """Observation ids answered with 400 (whatever else the Bundle holds)."""
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundles: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        del url
        assert headers["Authorization"].startswith("Bearer ")
        bundle = json.loads(body)
        self.bundles.append(bundle)
        ids = {
            i["value"]
            for e in bundle["entry"]
            for i in e["resource"].get("identifier", [])
            if i["system"] == "urn:hjem:observation"
        }
        if self.status != 200 or ids & self.refuse:
            status = self.status if self.status != 200 else 400
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {"severity": "error", "code": "invalid", "diagnostics": "refused by the test"}
                ],
            }
            return HttpAnswer(status, json.dumps(outcome).encode())
        statuses = []
        for entry in bundle["entry"]:
            key = entry["request"]["ifNoneExist"]
            statuses.append("200" if key in self.created else "201")
            self.created.setdefault(key, entry["resource"])
        reply = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": s}} for s in statuses],
        }
        return HttpAnswer(200, json.dumps(reply).encode())

    def observations(self) -> list[dict[str, Any]]:
        return [r for r in self.created.values() if r["resourceType"] == "Observation"]


def pushed_ids(server: MedplumServer) -> list[str]:
    """The hub observation ids of the Observations the server holds, sorted (repeats kept)."""
    return sorted(
        i["value"]
        for obs in server.resources("Observation")
        for i in obs["identifier"]
        if i["system"] == "urn:hjem:observation"
    )
