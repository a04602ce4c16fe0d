"""The transaction Bundle one push sends: the project's PHD mapping plus the residents.

:func:`schemas.fhir.to_bundle` makes the gateways, devices and observations, each a
conditional create (``ifNoneExist`` on its identifier; an observation's is the PHD dedup
identifier device-patient-type-timestamp, or the Hjem observation id). Each resident becomes
a ``Patient`` entry too, created only if absent (``identifier=urn:hjem:resident|<id>``: only
the hub's id, no name), and the observations' ``subject`` points at that entry's
``urn:uuid:`` so the recipient links them to its own Patient.

:func:`take` picks the oldest outbox rows whose Bundle stays within the recipient's entry
limit (every row costs its observation, plus its gateway, device and resident the first time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.fhir import bundle_json, to_bundle
from schemas.fhir_device import gateway_id, urn_uuid
from schemas.models import Observation

__all__ = ["RESIDENT_SYSTEM", "Pick", "patient_entry", "push_bundle", "take"]

RESIDENT_SYSTEM = "urn:hjem:resident"

Pick = tuple[Observation, str]
"""An observation and its resident's id."""


def take(picks: Sequence[Pick], max_entries: int) -> int:
    """How many of ``picks`` (from the first) fit in one Bundle of ``max_entries`` entries;
    at least one (a single reading needs four: gateway, device, resident, observation)."""
    seen: set[tuple[str, str]] = set()
    used = 0
    for count, (obs, resident) in enumerate(picks):
        keys = {("gw", gateway_id(obs)), ("dev", obs.source.device.id), ("pat", resident)}
        cost = 1 + len(keys - seen)
        if used + cost > max_entries and count > 0:
            return count
        seen |= keys
        used += cost
    return len(picks)


def patient_entry(resident_id: str) -> dict[str, Any]:
    return {
        "fullUrl": urn_uuid("patient", resident_id),
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": RESIDENT_SYSTEM, "value": resident_id}],
        },
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": f"identifier={RESIDENT_SYSTEM}|{resident_id}",
        },
    }


def push_bundle(picks: Sequence[Pick]) -> bytes:
    """The transaction Bundle of ``picks`` as UTF-8 JSON (decimals exact)."""
    residents = {id(obs): resident for obs, resident in picks}
    bundle = to_bundle(
        [obs for obs, _ in picks], subject=lambda obs: f"Patient/{residents[id(obs)]}"
    )
    patients = {resident: patient_entry(resident) for _, resident in picks}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            resident = resource["subject"]["reference"].removeprefix("Patient/")
            resource["subject"] = {"reference": patients[resident]["fullUrl"]}
    bundle["entry"] = list(patients.values()) + bundle["entry"]
    return bundle_json(bundle, indent=None).encode("utf-8")
