"""FHIR R4 resources the API returns, built on the project's PHD mapping (:mod:`schemas.fhir`).

Observations and devices are :func:`schemas.fhir.observation_resource` and
:func:`schemas.fhir_device.device_resource` unchanged, given a server identity: ``id`` (the
Hjem observation id; the device id), ``meta.lastUpdated`` (when the hub received the reading)
and references that resolve on this server (``Patient/{resident}``, ``Device/{device}``)
instead of the transaction Bundle's ``urn:uuid:`` ones. A Patient carries only what the
registry holds: the pseudonymous resident id, and the name only for a purpose of care.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from hub.fhir.consent import PURPOSES
from hub.fhir.ids import device_fhir_id
from hub.fhir.mapping import observation_from_reading
from hub.store.base import StoredObservation
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
_ENCODER = msgspec.json.Encoder()


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def observation(stored: StoredObservation, received: datetime) -> dict[str, Any]:
    """The stored reading as a FHIR Observation with a server identity: the PHD mapping
    built from the reading (:mod:`hub.fhir.mapping`, the same content as
    :func:`schemas.fhir.observation_resource`); decimals are :class:`msgspec.Raw`."""
    return observation_from_reading(stored.reading, stored.resident_id, instant(received))


def device(stored: StoredObservation) -> dict[str, Any]:
    """The device of a stored reading as a FHIR Device with a server identity."""
    res = device_resource(stored.observation)
    return {
        "resourceType": "Device",
        "id": device_fhir_id(stored.reading.source.device.id),
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


_MARKED = re.compile(rb'"\\u0000dec:(-?[0-9.]+)"')


def fhir_json(resource: dict[str, Any]) -> bytes:
    """Serialised with the PHD mapping's exact decimals (``2.00`` stays ``2.00``): those of
    :mod:`hub.fhir.mapping` are raw JSON numbers already; a decimal marked by
    :mod:`schemas.fhir` (``bundle_json``'s marker) is written as ``bundle_json`` writes it."""
    out = _ENCODER.encode(resource)
    if b"\\u0000dec:" in out:
        out = _MARKED.sub(lambda m: str(Decimal(m.group(1).decode())).encode(), out)
    return out
