"""FHIR Device resources for the PHD IG: the measuring device (``PhdDevice``) and the gateway
(``PhgDevice``), with the deterministic ``urn:uuid:`` full URLs that Bundle entries use.

A device claims ``PhdDevice`` only when it meets it (HL7/phd ``StructureDefinition.PhdDevice``):
its readings are of a PHD specialization (blood pressure, thermometer, scale, pulse oximeter,
glucose meter, CGM, respiration rate) and the manufacturer, model and firmware are known.
Otherwise it is a plain FHIR Device with the same identifiers and no profile claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from typing import Any

from schemas.codes import MDC_SYSTEM, UnknownMeasureError, codes
from schemas.models import DeviceInfo, Observation

__all__ = [
    "BTMAC_SYSTEM",
    "CONTINUA_IDS",
    "HJEM_DEVICE_SYSTEM",
    "HJEM_GATEWAY_SYSTEM",
    "HJEM_NAMESPACE",
    "PHD_DEVICE_PROFILE",
    "PHG_DEVICE_PROFILE",
    "SYSID_SYSTEM",
    "device_resource",
    "device_url",
    "gateway_id",
    "gateway_resource",
    "gateway_url",
    "meets_phd_device",
    "specialization",
    "urn_uuid",
]

PHD = "http://hl7.org/fhir/uv/phd"
PHD_DEVICE_PROFILE = f"{PHD}/StructureDefinition/PhdDevice"
PHG_DEVICE_PROFILE = f"{PHD}/StructureDefinition/PhgDevice"
CONTINUA_IDS = "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers"
SYSID_SYSTEM = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
BTMAC_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"
HJEM_DEVICE_SYSTEM = "urn:hjem:device"
HJEM_GATEWAY_SYSTEM = "urn:hjem:gateway"
HJEM_NAMESPACE = uuid.UUID("0d1b6a10-5250-5510-819b-4554f1f01883")
"""The fixed UUIDv5 namespace of Hjem's FHIR full URLs (uuid5(NAMESPACE_URL, urn:hjem:fhir))."""

MDC_SIMPLE_PHD = "65573"  # MDC_MOC_VMS_MDS_SIMP: PhdDevice.type
MDC_PHG = "531981"  # PhgDevice.type
MDC_FIRMWARE = "531976"  # MDC_ID_PROD_SPEC_FW (MDCDeviceVersionTypes)
MDC_SOFTWARE = "531975"  # MDC_ID_PROD_SPEC_SW
SPECIALIZATION_VERSION = "1"
"""IEEE 11073-104xx specialization version for Bluetooth SIG devices mapped 'virtually' (IG
page Non11073PHDDevices): Hjem states version 1 of the specialization it maps to."""

_SPECIALIZATIONS = {  # DeviceTypes11073MDC
    "blood_pressure": ("528391", "MDC_DEV_SPEC_PROFILE_BP"),
    "pulse_rate_bp": ("528391", "MDC_DEV_SPEC_PROFILE_BP"),
    "body_temperature": ("528392", "MDC_DEV_SPEC_PROFILE_TEMP"),
    "body_weight": ("528399", "MDC_DEV_SPEC_PROFILE_SCALE"),
    "body_height": ("528399", "MDC_DEV_SPEC_PROFILE_SCALE"),
    "bmi": ("528399", "MDC_DEV_SPEC_PROFILE_SCALE"),
    "spo2": ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    "perfusion_index": ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    "pulse_rate_oximeter": ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    "respiration_rate": ("528397", "MDC_DEV_SPEC_PROFILE_RESP_RATE"),
    "glucose": ("528401", "MDC_DEV_SPEC_PROFILE_GLUCOSE"),
    "glucose_interstitial": ("528409", "MDC_DEV_SPEC_PROFILE_CGM"),
}


def urn_uuid(kind: str, key: str) -> str:
    """``urn:uuid:`` + UUIDv5 of ``kind:key`` in the Hjem namespace (observations: the id)."""
    name = key if kind == "observation" else f"{kind}:{key}"
    return f"urn:uuid:{uuid.uuid5(HJEM_NAMESPACE, name)}"


def device_url(device_id: str) -> str:
    return urn_uuid("device", device_id)


def gateway_id(obs: Observation) -> str:
    """The gateway that delivered the reading: the named gateway, else the publisher."""
    return obs.source.gateway or obs.source.publisher


def gateway_url(gateway: str) -> str:
    return urn_uuid("gateway", gateway)


@cache
def _specialization_of(system: str, code: str) -> tuple[str, str] | None:
    found: set[tuple[str, str]] = set()
    for measure in codes().by_primary(system, code):
        key = measure.key
        spec = _SPECIALIZATIONS.get(key)
        if spec is None and key.startswith(("spo2", "pulse_rate_oximeter")):
            spec = _SPECIALIZATIONS["spo2"]
        if spec is None and key.startswith("glucose_") and "interstitial" not in key:
            spec = _SPECIALIZATIONS["glucose"] if measure.mdc else None
        if spec is not None:
            found.add(spec)
    return found.pop() if len(found) == 1 else None


def specialization(obs: Observation) -> tuple[str, str] | None:
    """The PHD specialization (MDC code, reference id) of the reading's measure, if any."""
    primary = obs.code[0]
    if primary.system != MDC_SYSTEM:
        return None
    try:
        return _specialization_of(primary.system, primary.code)
    except UnknownMeasureError:
        return None


def meets_phd_device(obs: Observation) -> bool:
    """The device can be a PhdDevice: a PHD specialization, manufacturer, model, firmware."""
    dev = obs.source.device
    return bool(specialization(obs) and dev.manufacturer and dev.model and dev.firmware)


def _mdc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": MDC_SYSTEM, "code": code, "display": display}]}


def _dashed(hex_text: str) -> str:
    return "-".join(hex_text[i : i + 2] for i in range(0, len(hex_text), 2))


def _identifiers(dev: DeviceInfo) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if dev.system_id:
        out.append(
            {
                "type": {"coding": [{"system": CONTINUA_IDS, "code": "SYSID"}]},
                "system": SYSID_SYSTEM,
                "value": _dashed(dev.system_id),
            }
        )
    if dev.address:
        out.append(
            {
                "type": {"coding": [{"system": CONTINUA_IDS, "code": "BTMAC"}]},
                "system": BTMAC_SYSTEM,
                "value": dev.address.replace(":", "-"),
            }
        )
    out.append({"system": HJEM_DEVICE_SYSTEM, "value": dev.id})
    return out


def device_resource(
    obs: Observation, specializations: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The measuring device; ``specializations`` adds those of its other readings."""
    dev = obs.source.device
    specs = sorted({*specializations, *filter(None, [specialization(obs)])})
    res: dict[str, Any] = {"resourceType": "Device", "identifier": _identifiers(dev)}
    if dev.manufacturer:
        res["manufacturer"] = dev.manufacturer
    if dev.serial:
        res["serialNumber"] = dev.serial
    if dev.model:
        res["modelNumber"] = dev.model
    if dev.firmware:
        res["version"] = [
            {"type": _mdc(MDC_FIRMWARE, "MDC_ID_PROD_SPEC_FW"), "value": dev.firmware}
        ]
    if specs and dev.manufacturer and dev.model and dev.firmware:
        res["meta"] = {"profile": [PHD_DEVICE_PROFILE]}
        res["type"] = _mdc(MDC_SIMPLE_PHD, "MDC_MOC_VMS_MDS_SIMP")
        res["specialization"] = [
            {"systemType": _mdc(code, ref), "version": SPECIALIZATION_VERSION}
            for code, ref in specs
        ]
    return {key: res[key] for key in sorted(res, key=_ORDER.index)}


_ORDER = [
    "resourceType",
    "meta",
    "identifier",
    "manufacturer",
    "serialNumber",
    "modelNumber",
    "type",
    "specialization",
    "version",
]


def _software_version() -> str:
    try:
        return metadata.version("hjem")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def gateway_resource(gateway: str, specializations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The gateway (PHG). It claims PhgDevice when it forwards at least one PHD specialization
    (PhgDevice.specialization 1..*); its version is the Hjem software that mapped the data."""
    specs = sorted(set(specializations))
    res: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [{"system": HJEM_GATEWAY_SYSTEM, "value": gateway}],
        "manufacturer": "Hjem",
        "modelNumber": "hjem gateway",
        "type": _mdc(MDC_PHG, "MDC_MOC_VMS_MDS_AHD"),
        "version": [
            {"type": _mdc(MDC_SOFTWARE, "MDC_ID_PROD_SPEC_SW"), "value": _software_version()}
        ],
    }
    if specs:
        res["meta"] = {"profile": [PHG_DEVICE_PROFILE]}
        res["specialization"] = [{"systemType": _mdc(code, ref)} for code, ref in specs]
    return res
