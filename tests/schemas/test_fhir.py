from __future__ import annotations

import json
from datetime import UTC, datetime

from fhir.resources.R4B.bundle import Bundle

from schemas import DataAbsentReason
from schemas.builders import component, make_observation
from schemas.fhir import (
    EXT_BASE,
    GATEWAY_EXT,
    PHD_COMPOUND_PROFILE,
    PHD_DEDUP_SYSTEM,
    PHD_NUMERIC_PROFILE,
    bundle_json,
    to_bundle,
)
from schemas.models import DeviceInfo, RawData, Source

SOURCE = Source(
    publisher="gw-1",
    gateway="gw-1",
    device=DeviceInfo(
        id="ble-AABBCCDDEEFF",
        address="AA:BB:CC:DD:EE:FF",
        manufacturer="Acme",
        model="BP1",
        firmware="1.2",
    ),
)
T = datetime(2026, 11, 28, 7, 15, tzinfo=UTC)


def _resources(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [e["resource"] for e in json.loads(text)["entry"]]


def test_numeric_observation_keeps_precision_and_parses_as_r4b() -> None:
    obs = make_observation(
        "body_temperature",
        source=SOURCE,
        effective=T,
        value="37.20",
        device_time="2026-11-28T08:15:00",
        clock_corrected=True,
        demo=True,
        raw=RawData(format="gatt:2a1c", data="00a00e00ff"),
    )
    text = bundle_json(to_bundle([obs], subject="Patient/r-1"))
    assert '"value": 37.20' in text  # exact decimal, not 37.2
    bundle = Bundle.model_validate_json(text)
    assert bundle.type == "transaction"
    res = _resources(text)
    gateway, device, observation = res
    assert gateway["identifier"] == [{"system": "urn:hjem:gateway", "value": "gw-1"}]
    assert device["resourceType"] == "Device"
    assert {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers",
                    "code": "BTMAC",
                }
            ]
        },
        "system": "http://hl7.org/fhir/sid/eui-48/bluetooth",
        "value": "AA-BB-CC-DD-EE-FF",
    } in device["identifier"]
    assert observation["meta"]["profile"] == [PHD_NUMERIC_PROFILE]
    assert observation["meta"]["security"][0]["code"] == "HTEST"
    assert observation["identifier"][0]["system"] == PHD_DEDUP_SYSTEM
    assert {"system": "urn:hjem:observation", "value": obs.id} in observation["identifier"]
    assert observation["valueQuantity"]["code"] == "Cel"
    assert observation["subject"] == {"reference": "Patient/r-1"}
    cats = [c["coding"][0]["code"] for c in observation["category"]]
    assert cats == ["vital-signs", "phd"]
    urls = [e["url"] for e in observation["extension"]]
    assert GATEWAY_EXT in urls
    entry = json.loads(text)["entry"][2]
    phd_id = observation["identifier"][0]["value"]
    assert entry["request"]["ifNoneExist"] == f"identifier={PHD_DEDUP_SYSTEM}|{phd_id}"


def test_blood_pressure_is_compound_with_components() -> None:
    obs = make_observation(
        "blood_pressure",
        source=SOURCE,
        effective=T,
        flags=["irregular-pulse"],
        components=[
            component("blood_pressure_systolic", "120.5"),
            component("blood_pressure_diastolic", "80"),
            component("blood_pressure_mean", None, absent=DataAbsentReason.NOT_A_NUMBER),
        ],
    )
    text = bundle_json(to_bundle([obs], subject="Patient/r-1"))
    Bundle.model_validate_json(text)
    res = _resources(text)[2]
    assert res["meta"]["profile"] == [PHD_COMPOUND_PROFILE]
    assert res["code"]["coding"][0]["code"] == "150020"
    assert [c["code"]["coding"][0]["code"] for c in res["component"]] == [
        "150021",
        "150022",
        "150023",
    ]
    assert res["component"][0]["valueQuantity"]["value"] == 120.5
    assert res["component"][2]["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    assert "valueQuantity" not in res
    assert "interpretation" not in res  # a device status, not a measurement status
    assert {"url": f"{EXT_BASE}:flag", "valueCode": "irregular-pulse"} in res["extension"]


def test_absent_boolean_and_event_values() -> None:
    absent = make_observation(
        "spo2", source=SOURCE, effective=T, data_absent_reason=DataAbsentReason.POSITIVE_INFINITY
    )
    motion = make_observation("motion", source=SOURCE, effective=T, value_boolean=True)
    button = make_observation("button", source=SOURCE, effective=T, value_code="long_press")
    text = bundle_json(to_bundle([absent, motion, button]))
    Bundle.model_validate_json(text)
    res = _resources(text)
    assert len([r for r in res if r["resourceType"] == "Device"]) == 2  # gateway + device, once
    by_code = {r["code"]["coding"][0]["code"]: r for r in res if r["resourceType"] == "Observation"}
    assert by_code["150456"]["dataAbsentReason"]["coding"][0]["code"] == "positive-infinity"
    assert by_code["motion"]["valueBoolean"] is True
    assert by_code["button"]["valueCodeableConcept"]["coding"][0]["code"] == "long_press"
    assert "category" not in by_code["motion"]  # a room sensor: no PHD category
