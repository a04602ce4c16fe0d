"""Map Hjem observations to FHIR R4 following the HL7 Personal Health Device (PHD) IG.

The rules and their sources (HL7/phd, ``input/fsh`` and ``input/intro-notes``) are listed in
``schemas/README.md`` section 7. In short:

* a reading claims a PHD profile only when it meets it: ``PhdNumericObservation`` for a number
  (or a special value) and ``PhdCompoundNumericObservation`` for blood pressure, each with a
  MDC code of a PHD specialization, a known resident (``subject`` 1..1) and a device that meets
  ``PhdDevice`` (:mod:`schemas.fhir_device`). Room sensors, motion (``valueBoolean``) and
  buttons (``valueCodeableConcept`` with Hjem codes) are plain FHIR Observations;
* categories: ``phd`` (PhdObservationCategories) for readings of personal health devices,
  ``vital-signs`` when the reading is a vital sign and carries its LOINC code (added from the
  codes table when the publisher sent none);
* every reference resolves inside the Bundle: device and gateway (``PhgDevice``) are entries
  with ``urn:uuid:`` full URLs (UUIDv5 in a fixed Hjem namespace), created if absent;
* status flags: ``interpretation`` with the PoCD measurement-status codes the IG names, HTEST
  for demonstration and test data, every flag also in a Hjem extension so nothing is lost;
* identifiers: the Hjem observation id (``urn:hjem:observation``) always, and the PHD
  conditional-create identifier (device-patient-type-timestamp) when its parts are known; the
  transaction's ``ifNoneExist`` uses the PHD one when present.

Decimal values keep their precision: ``"2.00"`` is written as the JSON number ``2.00``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.codes import HJEM_SYSTEM, LOINC_SYSTEM, MDC_SYSTEM, UnknownMeasureError, codes
from schemas.fhir_device import (
    device_resource,
    device_url,
    gateway_id,
    gateway_resource,
    gateway_url,
    meets_phd_device,
    specialization,
    urn_uuid,
)
from schemas.models import Coding, Component, DataAbsentReason, Observation

__all__ = [
    "EXT_BASE",
    "GATEWAY_EXT",
    "HJEM_OBSERVATION_SYSTEM",
    "MEASUREMENT_STATUS",
    "PHD_CATEGORY_SYSTEM",
    "PHD_COMPOUND_PROFILE",
    "PHD_DEDUP_SYSTEM",
    "PHD_NUMERIC_PROFILE",
    "Resident",
    "bundle_json",
    "observation_resource",
    "to_bundle",
]

PHD = "http://hl7.org/fhir/uv/phd"
PHD_NUMERIC_PROFILE = f"{PHD}/StructureDefinition/PhdNumericObservation"
PHD_COMPOUND_PROFILE = f"{PHD}/StructureDefinition/PhdCompoundNumericObservation"
PHD_DEDUP_SYSTEM = f"{PHD}/StructureDefinition/PhdBaseObservation"
PHD_CATEGORY_SYSTEM = f"{PHD}/CodeSystem/PhdObservationCategories"
VITAL_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
GATEWAY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
UCUM = "http://unitsofmeasure.org"
EXT_BASE = "urn:hjem:fhir:extension"
HJEM_OBSERVATION_SYSTEM = "urn:hjem:observation"
_HTEST_FLAGS = frozenset({"demonstration-data", "testing-data"})
_STATUS_CODES = {  # Hjem flag -> PoCD measurement-status (PhdBaseObservation notes, table)
    "questionable-measurement": "questionable",
    "calibration-ongoing": "calibration-ongoing",
    "early-estimate": "early-indication",
    "validated": "validated",
    "below-patient-low": "in-alarm",
    "above-patient-high": "in-alarm",
    "below-hypo": "in-alarm",
    "above-hyper": "in-alarm",
}
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
_DECIMAL_MARK = "\u0000dec:"
_DECIMAL_RE = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')

Resident = str | Callable[[Observation], str | None] | None
"""The resident's FHIR reference (``Patient/123``), one for all, or per observation."""


def _dec(text: str) -> str:
    """Mark a decimal string so that :func:`bundle_json` writes it as an exact JSON number."""
    return f"{_DECIMAL_MARK}{text}"


def _with_loinc(codings: Iterable[Coding]) -> list[Coding]:
    """The codings, with the codes table's LOINC code added to a vital sign that lacks one."""
    out = list(codings)
    if any(c.system == LOINC_SYSTEM for c in out):
        return out
    loinc = {m.loinc for m in _measures(out[0]) if m.vital}
    if len(loinc) == 1 and None not in loinc:
        out.append(Coding(system=LOINC_SYSTEM, code=str(loinc.pop())))
    return out


def _measures(primary: Coding) -> list[Any]:
    try:
        return list(codes().by_primary(primary.system, primary.code))
    except UnknownMeasureError:
        return []


def _concept(codings: Iterable[Coding], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [c.model_dump(exclude_none=True) for c in codings]}
    if text:
        out["text"] = text
    return out


def _absent(reason: DataAbsentReason) -> dict[str, Any]:
    system = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
    return {"coding": [{"system": system, "code": reason.value}]}


def _quantity(value: str, unit: str) -> dict[str, Any]:
    return {"value": _dec(value), "unit": unit, "system": UCUM, "code": unit}


def _component(comp: Component) -> dict[str, Any]:
    out: dict[str, Any] = {"code": _concept(_with_loinc(comp.code))}
    if comp.value is not None and comp.unit is not None:
        out["valueQuantity"] = _quantity(comp.value, comp.unit)
    if comp.data_absent_reason is not None:
        out["dataAbsentReason"] = _absent(comp.data_absent_reason)
    return out


def _extensions(obs: Observation) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = [
        {"url": GATEWAY_EXT, "valueReference": {"reference": gateway_url(gateway_id(obs))}}
    ]
    if obs.device_time is not None:
        ext.append({"url": f"{EXT_BASE}:device-time", "valueString": obs.device_time})
    ext.append({"url": f"{EXT_BASE}:clock-corrected", "valueBoolean": obs.clock_corrected})
    if obs.sequence is not None:
        ext.append({"url": f"{EXT_BASE}:sequence", "valueInteger": obs.sequence})
    ext.append({"url": f"{EXT_BASE}:publisher", "valueString": obs.source.publisher})
    if obs.raw is not None:
        ext.append({"url": f"{EXT_BASE}:raw", "valueString": f"{obs.raw.format} {obs.raw.data}"})
    ext.extend({"url": f"{EXT_BASE}:flag", "valueCode": f} for f in obs.flags)
    return ext


def _categories(obs: Observation, code: list[Coding]) -> list[dict[str, Any]]:
    cats: list[dict[str, Any]] = []
    vital = any(m.vital for m in _measures(obs.code[0]))
    if vital and any(c.system == LOINC_SYSTEM for c in code):
        cats.append({"coding": [{"system": VITAL_CATEGORY_SYSTEM, "code": "vital-signs"}]})
    if specialization(obs) is not None:
        cats.append({"coding": [{"system": PHD_CATEGORY_SYSTEM, "code": "phd"}]})
    return cats


def _profile(obs: Observation, subject: str | None) -> str | None:
    """The PHD profile the reading meets, or None (see the module docstring)."""
    if subject is None or not meets_phd_device(obs):
        return None
    if obs.components:
        mdc = all(any(c.system == MDC_SYSTEM for c in comp.code) for comp in obs.components)
        return PHD_COMPOUND_PROFILE if mdc else None
    if obs.value is not None or obs.data_absent_reason is not None:
        return PHD_NUMERIC_PROFILE
    return None


def _phd_timestamp(obs: Observation) -> str | None:
    """The PHD-reported time as the IG encodes it: seconds since 2000-01-01 (+ offset in
    15-minute units); the receive time when the device sent none."""
    text = obs.device_time
    if text is None:
        when = obs.effective
        return str(int((when - _EPOCH_2000).total_seconds()))
    try:
        reported = datetime.fromisoformat(text)
    except ValueError:
        return None  # a sequence number or tick count Hjem cannot scale
    seconds = (reported.replace(tzinfo=UTC) - _EPOCH_2000).total_seconds()
    out = f"{seconds:.3f}".rstrip("0").rstrip(".")
    offset = reported.utcoffset()
    if offset is not None:
        out += f"{int(offset.total_seconds() // 900):+d}"
    return out


def phd_identifier(obs: Observation, subject: str | None) -> str | None:
    """The PHD conditional-create identifier device-patient-type-timestamp, when known."""
    dev = obs.source.device
    device = dev.system_id or (dev.address.replace(":", "") if dev.address else None)
    patient = subject.split("/", 1)[1] if subject and subject.count("/") == 1 else None
    primary = obs.code[0]
    timestamp = _phd_timestamp(obs)
    if not (device and patient and primary.system == MDC_SYSTEM and timestamp):
        return None
    return f"{device}-{patient}-{primary.code}-{timestamp}"


def _identifiers(obs: Observation, subject: str | None) -> list[dict[str, Any]]:
    out = [{"system": HJEM_OBSERVATION_SYSTEM, "value": obs.id}]
    phd = phd_identifier(obs, subject)
    if phd is not None:
        out.insert(0, {"system": PHD_DEDUP_SYSTEM, "value": phd})
    return out


def _value(obs: Observation) -> dict[str, Any]:
    if obs.value is not None and obs.unit is not None:
        return {"valueQuantity": _quantity(obs.value, obs.unit)}
    if obs.value_boolean is not None:
        return {"valueBoolean": obs.value_boolean}
    if obs.value_code is not None:
        coding = {"system": f"{HJEM_SYSTEM}:event", "code": obs.value_code}
        return {"valueCodeableConcept": {"coding": [coding]}}
    if obs.data_absent_reason is not None:
        return {"dataAbsentReason": _absent(obs.data_absent_reason)}
    return {}


def observation_resource(obs: Observation, subject: str | None = None) -> dict[str, Any]:
    """One FHIR R4 Observation (as a JSON-ready dict with decimal markers)."""
    code = _with_loinc(obs.code)
    res: dict[str, Any] = {"resourceType": "Observation", "meta": {}}
    profile = _profile(obs, subject)
    if profile is not None:
        res["meta"]["profile"] = [profile]
    if obs.demo or _HTEST_FLAGS.intersection(obs.flags):
        system = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
        res["meta"]["security"] = [{"system": system, "code": "HTEST"}]
    if not res["meta"]:
        del res["meta"]
    res["extension"] = _extensions(obs)
    res["identifier"] = _identifiers(obs, subject)
    res["status"] = obs.status.value
    res["category"] = _categories(obs, code) or None
    res["code"] = _concept(code, obs.code[0].display)
    if subject:
        res["subject"] = {"reference": subject}
    res["effectiveDateTime"] = obs.effective.isoformat().replace("+00:00", "Z")
    res["device"] = {"reference": device_url(obs.source.device.id)}
    res.update(_value(obs))
    if obs.components:
        res["component"] = [_component(c) for c in obs.components]
    status = sorted({_STATUS_CODES[f] for f in obs.flags if f in _STATUS_CODES})
    if status:
        res["interpretation"] = [
            {"coding": [{"system": MEASUREMENT_STATUS, "code": s}]} for s in status
        ]
    if obs.body_site:
        res["bodySite"] = {"text": obs.body_site}
    return {k: v for k, v in res.items() if v is not None}


def _resident(resident: Resident, obs: Observation) -> str | None:
    return resident(obs) if callable(resident) else resident


def _create(full_url: str, resource: dict[str, Any], kind: str, query: str) -> dict[str, Any]:
    request = {"method": "POST", "url": kind, "ifNoneExist": f"identifier={query}"}
    return {"fullUrl": full_url, "resource": resource, "request": request}


def to_bundle(observations: Iterable[Observation], subject: Resident = None) -> dict[str, Any]:
    """A FHIR transaction Bundle: gateways and devices, then observations, each created only
    if absent (conditional create on its identifier).

    ``subject`` is the resident's reference (``Patient/123``) when the registry knows it: one
    for all readings, or a function of the reading; None leaves ``subject`` out (and with it
    every PHD profile claim, since PhdBaseObservation requires a subject).
    """
    readings = list(observations)
    devices: dict[str, Observation] = {}
    specs: dict[str, set[tuple[str, str]]] = {}
    gateway_specs: dict[str, set[tuple[str, str]]] = {}
    entries: list[dict[str, Any]] = []
    for obs in readings:
        dev_id = obs.source.device.id
        devices.setdefault(dev_id, obs)
        spec = specialization(obs)
        specs.setdefault(dev_id, set()).update([spec] if spec else [])
        gw_specs = gateway_specs.setdefault(gateway_id(obs), set())
        gw_specs.update([spec] if spec and meets_phd_device(obs) else [])
        resource = observation_resource(obs, _resident(subject, obs))
        key = resource["identifier"][0]
        entries.append(
            _create(
                urn_uuid("observation", obs.id),
                resource,
                "Observation",
                f"{key['system']}|{key['value']}",
            )
        )
    head = [
        _create(gateway_url(gw), gateway_resource(gw, s), "Device", f"urn:hjem:gateway|{gw}")
        for gw, s in gateway_specs.items()
    ]
    head += [
        _create(device_url(d), device_resource(o, specs[d]), "Device", f"urn:hjem:device|{d}")
        for d, o in devices.items()
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": head + entries}


def bundle_json(bundle: dict[str, Any], indent: int | None = 2) -> str:
    """Serialise with decimals written exactly as given (``2.00`` stays ``2.00``)."""
    text = json.dumps(bundle, indent=indent, ensure_ascii=False)
    return _DECIMAL_RE.sub(lambda m: str(Decimal(m.group(1))), text)
