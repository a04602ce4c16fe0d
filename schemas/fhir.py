"""Map Hjem observations to FHIR R4 following the HL7 Personal Health Device IG.

* numeric readings -> ``PhdNumericObservation`` (``valueQuantity``, UCUM);
* blood pressure -> ``PhdCompoundNumericObservation`` with one component per part;
* the device -> a ``PhdDevice`` (Bluetooth address as an EUI-48 identifier), the gateway ->
  the ``observation-gatewayDevice`` extension;
* special values -> ``dataAbsentReason``; status flags -> ``interpretation`` codings;
* the PHD dedup identifier (the Hjem observation id) with conditional create
  (``ifNoneExist``), so that a re-sent reading is created once;
* demo data -> ``meta.security`` HTEST.

Decimal values keep their precision: ``"2.00"`` is written as the JSON number ``2.00``.
Facts without a FHIR element (raw bytes, device time, clock correction, sequence number) go
into Hjem extensions, so the mapping loses nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from schemas.codes import HJEM_SYSTEM, codes
from schemas.models import Coding, Component, DataAbsentReason, Observation

__all__ = [
    "EXT_BASE",
    "PHD_COMPOUND_PROFILE",
    "PHD_NUMERIC_PROFILE",
    "bundle_json",
    "observation_resource",
    "to_bundle",
]

PHD = "http://hl7.org/fhir/uv/phd"
PHD_NUMERIC_PROFILE = f"{PHD}/StructureDefinition/PhdNumericObservation"
PHD_COMPOUND_PROFILE = f"{PHD}/StructureDefinition/PhdCompoundNumericObservation"
PHD_CODED_PROFILE = f"{PHD}/StructureDefinition/PhdCodedEnumerationObservation"
PHD_DEVICE_PROFILE = f"{PHD}/StructureDefinition/PhdDevice"
PHD_DEDUP_SYSTEM = f"{PHD}/StructureDefinition/PhdBaseObservation"
GATEWAY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
BTMAC_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"
UCUM = "http://unitsofmeasure.org"
EXT_BASE = "urn:hjem:fhir:extension"
FLAG_SYSTEM = "urn:hjem:flag"
_DECIMAL_MARK = "\u0000dec:"
_DECIMAL_RE = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


def _dec(text: str) -> str:
    """Mark a decimal string so that :func:`bundle_json` writes it as an exact JSON number."""
    return f"{_DECIMAL_MARK}{text}"


def _concept(codings: Iterable[Coding], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "coding": [c.model_dump(exclude_none=True) for c in codings],
    }
    if text:
        out["text"] = text
    return out


def _absent(reason: DataAbsentReason) -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": reason.value,
            }
        ]
    }


def _quantity(value: str, unit: str) -> dict[str, Any]:
    return {"value": _dec(value), "unit": unit, "system": UCUM, "code": unit}


def _device_id(device_id: str) -> str:
    return "dev-" + re.sub(r"[^A-Za-z0-9\-.]", "-", device_id)[:60]


def device_resource(obs: Observation) -> dict[str, Any]:
    dev = obs.source.device
    identifiers: list[dict[str, Any]] = [{"system": "urn:hjem:device", "value": dev.id}]
    if dev.address:
        identifiers.append({"system": BTMAC_SYSTEM, "value": dev.address.replace(":", "-")})
    if dev.serial:
        identifiers.append({"type": {"text": "serial"}, "value": dev.serial})
    res: dict[str, Any] = {
        "resourceType": "Device",
        "id": _device_id(dev.id),
        "meta": {"profile": [PHD_DEVICE_PROFILE]},
        "identifier": identifiers,
    }
    if dev.manufacturer:
        res["manufacturer"] = dev.manufacturer
    if dev.model:
        res["modelNumber"] = dev.model
    if dev.firmware:
        res["version"] = [{"type": {"text": "firmware-revision"}, "value": dev.firmware}]
    return res


def _component(comp: Component) -> dict[str, Any]:
    out: dict[str, Any] = {"code": _concept(comp.code)}
    if comp.value is not None and comp.unit is not None:
        out["valueQuantity"] = _quantity(comp.value, comp.unit)
    if comp.data_absent_reason is not None:
        out["dataAbsentReason"] = _absent(comp.data_absent_reason)
    return out


def _extensions(obs: Observation) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = []
    if obs.source.gateway:
        ext.append(
            {
                "url": GATEWAY_EXT,
                "valueReference": {"reference": f"Device/{_device_id(obs.source.gateway)}"},
            }
        )
    if obs.device_time is not None:
        ext.append({"url": f"{EXT_BASE}:device-time", "valueString": obs.device_time})
    ext.append({"url": f"{EXT_BASE}:clock-corrected", "valueBoolean": obs.clock_corrected})
    if obs.sequence is not None:
        ext.append({"url": f"{EXT_BASE}:sequence", "valueInteger": obs.sequence})
    ext.append({"url": f"{EXT_BASE}:publisher", "valueString": obs.source.publisher})
    if obs.raw is not None:
        ext.append({"url": f"{EXT_BASE}:raw", "valueString": f"{obs.raw.format} {obs.raw.data}"})
    return ext


def _categories(obs: Observation) -> list[dict[str, Any]]:
    cats = [{"coding": [{"system": f"{PHD}/CodeSystem/PhdObservationCategories", "code": "phd"}]}]
    primary = obs.code[0]
    measures = codes().by_primary(primary.system, primary.code)
    if any(m.vital for m in measures):
        cats.insert(
            0,
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            },
        )
    return cats


def _profile(obs: Observation) -> str:
    if obs.components:
        return PHD_COMPOUND_PROFILE
    if obs.value_code is not None:
        return PHD_CODED_PROFILE
    return PHD_NUMERIC_PROFILE


def observation_resource(obs: Observation, subject: str | None = None) -> dict[str, Any]:
    """One FHIR R4 Observation (as a JSON-ready dict with decimal markers)."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "obs-" + obs.id,
        "meta": {"profile": [_profile(obs)]},
        "extension": _extensions(obs),
        "identifier": [{"system": PHD_DEDUP_SYSTEM, "value": obs.id}],
        "status": obs.status.value,
        "category": _categories(obs),
        "code": _concept(obs.code, obs.code[0].display),
        "effectiveDateTime": obs.effective.isoformat().replace("+00:00", "Z"),
        "device": {"reference": f"Device/{_device_id(obs.source.device.id)}"},
    }
    if obs.demo:
        res["meta"]["security"] = [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
        ]
    if subject:
        res["subject"] = {"reference": subject}
    if obs.value is not None and obs.unit is not None:
        res["valueQuantity"] = _quantity(obs.value, obs.unit)
    elif obs.value_boolean is not None:
        res["valueBoolean"] = obs.value_boolean
    elif obs.value_code is not None:
        res["valueCodeableConcept"] = {
            "coding": [{"system": f"{HJEM_SYSTEM}:event", "code": obs.value_code}]
        }
    elif obs.data_absent_reason is not None:
        res["dataAbsentReason"] = _absent(obs.data_absent_reason)
    if obs.components:
        res["component"] = [_component(c) for c in obs.components]
    if obs.flags:
        res["interpretation"] = [
            {"coding": [{"system": FLAG_SYSTEM, "code": f}]} for f in obs.flags
        ]
    if obs.body_site:
        res["bodySite"] = {"text": obs.body_site}
    return res


def to_bundle(observations: Iterable[Observation], subject: str | None = None) -> dict[str, Any]:
    """A FHIR transaction Bundle: devices (create-if-absent) and observations (conditional)."""
    entries: list[dict[str, Any]] = []
    devices: dict[str, dict[str, Any]] = {}
    for obs in observations:
        dev = device_resource(obs)
        devices.setdefault(dev["id"], dev)
        entries.append(
            {
                "fullUrl": f"urn:uuid:{obs.id}",
                "resource": observation_resource(obs, subject),
                "request": {
                    "method": "POST",
                    "url": "Observation",
                    "ifNoneExist": f"identifier={PHD_DEDUP_SYSTEM}|{obs.id}",
                },
            }
        )
    device_entries = [
        {
            "fullUrl": f"Device/{dev_id}",
            "resource": dev,
            "request": {"method": "PUT", "url": f"Device/{dev_id}"},
        }
        for dev_id, dev in devices.items()
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": device_entries + entries}


def bundle_json(bundle: dict[str, Any], indent: int | None = 2) -> str:
    """Serialise with decimals written exactly as given (``2.00`` stays ``2.00``)."""
    text = json.dumps(bundle, indent=indent, ensure_ascii=False)
    return _DECIMAL_RE.sub(lambda m: str(Decimal(m.group(1))), text)
