"""The PHD mapping of :mod:`schemas.fhir` for a stored reading, built straight from the hub's
reading type (:class:`hub.reading.Reading`) for the FHIR search, where it runs per row.

:func:`schemas.fhir.observation_resource` takes the schema model; building that model again
for every stored reading (pydantic validation) and mapping it cost most of a search. Here the
same resource is built from the reading: what depends only on the codes and the device (the
concept with its added LOINC coding, categories, the PHD specialization) is worked out once
per distinct code or device and shared, and decimals become :class:`msgspec.Raw` JSON numbers
written exactly as :func:`schemas.fhir.bundle_json` writes them. The content is the same:
``tests/hub/fhir/test_fast_mapping.py`` compares the two for every kind of reading.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any, cast

import msgspec

from hub.fhir.ids import device_fhir_id
from hub.reading import Reading, ReadingCoding, ReadingComponent, ReadingDevice
from schemas.codes import HJEM_SYSTEM, LOINC_SYSTEM, MDC_SYSTEM, UnknownMeasureError, codes
from schemas.fhir import _HTEST_FLAGS as HTEST_FLAGS
from schemas.fhir import _STATUS_CODES as STATUS_CODES
from schemas.fhir import (
    EXT_BASE,
    GATEWAY_EXT,
    HJEM_OBSERVATION_SYSTEM,
    MEASUREMENT_STATUS,
    PHD_CATEGORY_SYSTEM,
    PHD_COMPOUND_PROFILE,
    PHD_DEDUP_SYSTEM,
    PHD_NUMERIC_PROFILE,
    UCUM,
    VITAL_CATEGORY_SYSTEM,
    phd_identifier,
)
from schemas.fhir_device import gateway_url, specialization
from schemas.models import Observation

__all__ = ["observation_from_reading"]

_ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_VITAL = [{"coding": [{"system": VITAL_CATEGORY_SYSTEM, "code": "vital-signs"}]}]
_PHD = [{"coding": [{"system": PHD_CATEGORY_SYSTEM, "code": "phd"}]}]
_NUMBERS: dict[str, msgspec.Raw] = {}
_GATEWAYS: dict[str, dict[str, Any]] = {}

_Codings = tuple[tuple[str, str, str | None], ...]


def _number(text: str) -> msgspec.Raw:
    """The decimal as :func:`schemas.fhir.bundle_json` writes it (``str(Decimal(text))``)."""
    found = _NUMBERS.get(text)
    if found is None:
        found = msgspec.Raw(str(Decimal(text)).encode())
        if len(_NUMBERS) < 100_000:
            _NUMBERS[text] = found
    return found


def _key(codings: list[ReadingCoding]) -> _Codings:
    return tuple((c.system, c.code, c.display) for c in codings)


@cache
def _measures(system: str, code: str) -> tuple[Any, ...]:
    try:
        return tuple(codes().by_primary(system, code))
    except UnknownMeasureError:
        return ()


@cache
def _coded(codings: _Codings) -> tuple[list[dict[str, str]], bool]:
    """The codings as FHIR (the codes table's LOINC code added to a vital sign without one),
    and whether a LOINC coding is among them."""
    out = [
        {"system": s, "code": c} if d is None else {"system": s, "code": c, "display": d}
        for s, c, d in codings
    ]
    if any(s == LOINC_SYSTEM for s, _, _ in codings):
        return out, True
    loinc = {m.loinc for m in _measures(codings[0][0], codings[0][1]) if m.vital}
    if len(loinc) == 1 and None not in loinc:
        return [*out, {"system": LOINC_SYSTEM, "code": str(loinc.pop())}], True
    return out, False


@cache
def _code_parts(codings: _Codings) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """``code``, ``category`` and whether the measure has a PHD specialization."""
    coding, has_loinc = _coded(codings)
    concept: dict[str, Any] = {"coding": coding}
    if codings[0][2]:
        concept["text"] = codings[0][2]
    system, code = codings[0][0], codings[0][1]
    spec = _specialized(system, code)
    vital = any(m.vital for m in _measures(system, code))
    categories = (_VITAL if vital and has_loinc else []) + (_PHD if spec else [])
    return concept, categories, spec


class _Codes(msgspec.Struct):
    """What :func:`schemas.fhir_device.specialization` reads of an observation: its codes."""

    code: list[ReadingCoding]


@cache
def _specialized(system: str, code: str) -> bool:
    probe = _Codes([ReadingCoding(system=system, code=code)])
    return specialization(cast("Observation", probe)) is not None


@cache
def _component_code(codings: _Codings) -> dict[str, Any]:
    return {"coding": _coded(codings)[0]}


def _gateway(reading: Reading) -> dict[str, Any]:
    """The gateway extension (its ``urn:uuid:`` made once per gateway, not per reading)."""
    gateway = reading.source.gateway or reading.source.publisher
    found = _GATEWAYS.get(gateway)
    if found is None:
        found = {"url": GATEWAY_EXT, "valueReference": {"reference": gateway_url(gateway)}}
        if len(_GATEWAYS) < 10_000:
            _GATEWAYS[gateway] = found
    return found


def _extensions(reading: Reading) -> list[dict[str, Any]]:
    """As :func:`schemas.fhir._extensions` (which would make the gateway's uuid every time)."""
    ext = [_gateway(reading)]
    if reading.device_time is not None:
        ext.append({"url": f"{EXT_BASE}:device-time", "valueString": reading.device_time})
    ext.append({"url": f"{EXT_BASE}:clock-corrected", "valueBoolean": reading.clock_corrected})
    if reading.sequence is not None:
        ext.append({"url": f"{EXT_BASE}:sequence", "valueInteger": reading.sequence})
    ext.append({"url": f"{EXT_BASE}:publisher", "valueString": reading.source.publisher})
    if reading.raw is not None:
        ext.append(
            {"url": f"{EXT_BASE}:raw", "valueString": f"{reading.raw.format} {reading.raw.data}"}
        )
    ext.extend({"url": f"{EXT_BASE}:flag", "valueCode": f} for f in reading.flags)
    return ext


def _device_ok(device: ReadingDevice) -> bool:
    return bool(device.manufacturer and device.model and device.firmware)


def _profile(reading: Reading, spec: bool) -> str | None:
    if not (spec and _device_ok(reading.source.device)):
        return None
    if reading.components:
        mdc = all(any(c.system == MDC_SYSTEM for c in p.code) for p in reading.components)
        return PHD_COMPOUND_PROFILE if mdc else None
    if reading.value is not None or reading.data_absent_reason is not None:
        return PHD_NUMERIC_PROFILE
    return None


def _identifiers(reading: Reading, resident_id: str | None) -> list[dict[str, Any]]:
    out = [{"system": HJEM_OBSERVATION_SYSTEM, "value": reading.id}]
    subject = f"Patient/{resident_id}" if resident_id else None
    phd = phd_identifier(cast("Observation", reading), subject)
    if phd is not None:
        out.insert(0, {"system": PHD_DEDUP_SYSTEM, "value": phd})
    return out


def _absent(reason: str) -> dict[str, Any]:
    return {"coding": [{"system": _ABSENT_SYSTEM, "code": reason}]}


def _quantity(value: str, unit: str) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": unit}


def _value(reading: Reading, res: dict[str, Any]) -> None:
    if reading.value is not None and reading.unit is not None:
        res["valueQuantity"] = _quantity(reading.value, reading.unit)
    elif reading.value_boolean is not None:
        res["valueBoolean"] = reading.value_boolean
    elif reading.value_code is not None:
        coding = {"system": f"{HJEM_SYSTEM}:event", "code": reading.value_code}
        res["valueCodeableConcept"] = {"coding": [coding]}
    elif reading.data_absent_reason is not None:
        res["dataAbsentReason"] = _absent(reading.data_absent_reason)


def _component(part: ReadingComponent) -> dict[str, Any]:
    out: dict[str, Any] = {"code": _component_code(_key(part.code))}
    if part.value is not None and part.unit is not None:
        out["valueQuantity"] = _quantity(part.value, part.unit)
    if part.data_absent_reason is not None:
        out["dataAbsentReason"] = _absent(part.data_absent_reason)
    return out


def _meta(reading: Reading, profile: str | None, updated: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if profile is not None:
        meta["profile"] = [profile]
    if reading.demo or HTEST_FLAGS.intersection(reading.flags):
        meta["security"] = [{"system": _ACT_REASON, "code": "HTEST"}]
    meta["lastUpdated"] = updated
    return meta


def _tail(reading: Reading, res: dict[str, Any]) -> None:
    """Value, components, interpretation, body site."""
    _value(reading, res)
    if reading.components:
        res["component"] = [_component(c) for c in reading.components]
    if reading.flags:
        status = sorted({STATUS_CODES[f] for f in reading.flags if f in STATUS_CODES})
        if status:
            res["interpretation"] = [
                {"coding": [{"system": MEASUREMENT_STATUS, "code": s}]} for s in status
            ]
    if reading.body_site:
        res["bodySite"] = {"text": reading.body_site}


def observation_from_reading(
    reading: Reading, resident_id: str | None, updated: str
) -> dict[str, Any]:
    """The server's Observation for a stored reading (see :func:`hub.fhir.resources.observation`);
    ``updated``: ``meta.lastUpdated``, an instant. Decimals are :class:`msgspec.Raw`."""
    concept, categories, spec = _code_parts(_key(reading.code))
    profile = _profile(reading, spec) if resident_id else None
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": reading.id,
        "meta": _meta(reading, profile, updated),
        "extension": _extensions(reading),
        "identifier": _identifiers(reading, resident_id),
        "status": reading.status,
    }
    if categories:
        res["category"] = categories
    res["code"] = concept
    if resident_id:
        res["subject"] = {"reference": f"Patient/{resident_id}"}
    res["effectiveDateTime"] = reading.effective.isoformat().replace("+00:00", "Z")
    res["device"] = {"reference": f"Device/{device_fhir_id(reading.source.device.id)}"}
    _tail(reading, res)
    return res
