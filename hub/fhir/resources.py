"""FHIR R4 resources the API returns, built on the project's PHD mapping (:mod:`schemas.fhir`).

Observations and devices are :func:`schemas.fhir.observation_resource` and
:func:`schemas.fhir_device.device_resource` unchanged, given a server identity: ``id`` (the
Hjem observation id; the device id), ``meta.lastUpdated`` (when the hub received the reading)
and references that resolve on this server (``Patient/{resident}``, ``Device/{device}``)
instead of the transaction Bundle's ``urn:uuid:`` ones. A Patient carries only what the
registry holds: the pseudonymous resident id, and the name only for a purpose of care.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.fhir.consent import PURPOSES
from hub.store.base import StoredObservation
from schemas.fhir import bundle_json, observation_resource
from schemas.fhir_device import device_resource

__all__ = [
    "FHIR_JSON",
    "NAMED_PURPOSES",
    "RESIDENT_SYSTEM",
    "bundle",
    "device",
    "fhir_json",
    "instant",
    "observation",
    "operation_outcome",
    "patient",
]

FHIR_JSON = "application/fhir+json"
RESIDENT_SYSTEM = "urn:hjem:resident"
NAMED_PURPOSES = frozenset({"TREAT", "ETREAT", "CAREMGT"})
"""Purposes for which a Patient carries the resident's name (others: the pseudonym only)."""
assert PURPOSES.keys() >= NAMED_PURPOSES


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def observation(stored: StoredObservation, received: datetime) -> dict[str, Any]:
    """The stored reading as a FHIR Observation with a server identity."""
    obs = stored.observation
    subject = f"Patient/{stored.resident_id}" if stored.resident_id else None
    res = observation_resource(obs, subject)
    res.pop("resourceType")
    meta = {**res.pop("meta", {}), "lastUpdated": instant(received)}
    res["device"] = {"reference": f"Device/{obs.source.device.id}"}
    return {"resourceType": "Observation", "id": obs.id, "meta": meta, **res}


def device(stored: StoredObservation) -> dict[str, Any]:
    """The device of a stored reading as a FHIR Device with a server identity."""
    res = device_resource(stored.observation)
    return {
        "resourceType": "Device",
        "id": stored.observation.source.device.id,
        **{k: v for k, v in res.items() if k != "resourceType"},
    }


def patient(resident_id: str, name: str, organisation: str | None, purpose: str) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": resident_id,
        "identifier": [{"system": RESIDENT_SYSTEM, "value": resident_id}],
    }
    if purpose in NAMED_PURPOSES and name:
        res["name"] = [{"text": name}]
    if organisation is not None:
        res["managingOrganization"] = {"reference": f"Organization/{organisation}"}
    return res


def bundle(
    entries: list[tuple[dict[str, Any], str]], base: str, links: dict[str, str], now: datetime
) -> dict[str, Any]:
    """A searchset Bundle; ``entries`` are (resource, search mode ``match``/``include``)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "meta": {"lastUpdated": instant(now)},
        "link": [{"relation": rel, "url": url} for rel, url in links.items()],
        "entry": [
            {
                "fullUrl": f"{base}/{res['resourceType']}/{res['id']}",
                "resource": res,
                "search": {"mode": mode},
            }
            for res, mode in entries
        ],
    }


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue (``code`` from the FHIR issue-type value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def fhir_json(resource: dict[str, Any]) -> bytes:
    """Serialised with the PHD mapping's exact decimals (``2.00`` stays ``2.00``)."""
    return bundle_json(resource, indent=None).encode()
