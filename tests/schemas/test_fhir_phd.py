"""FHIR per the HL7 PHD IG (issue 14): full URLs, references, profile and category claims,
measurement status, identifiers, subject and PhdDevice.

Sources: HL7/phd at 5af8412f26a40456084790f8d23a822f04f469ae, input/fsh/StructureDefinition.*.fsh
and input/intro-notes/StructureDefinition-PhdBaseObservation-notes.md (see tests/fhir_ig/README.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from schemas.builders import component, make_observation
from schemas.fhir import bundle_json, to_bundle
from schemas.fhir_profiles import check_bundle
from schemas.models import DeviceInfo, Observation, Source
from tests.support.fhir_profiles import checker

PHD = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
NAMESPACE = uuid.UUID("0d1b6a10-5250-5510-819b-4554f1f01883")  # uuid5(NAMESPACE_URL, urn:hjem:fhir)
POCD = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
T = datetime(2026, 11, 28, 7, 15, tzinfo=UTC)
BARE = Source(publisher="gw-1", gateway="gw-1", device=DeviceInfo(id="ble-AABBCCDDEEFF"))
PHD_SOURCE = Source(
    publisher="gw-1",
    gateway="gw-1",
    device=DeviceInfo(
        id="ble-AABBCCDDEEFF",
        address="AA:BB:CC:DD:EE:FF",
        manufacturer="Acme",
        model="T1",
        firmware="1.2",
    ),
)


def _bundle(observations: list[Observation], subject: Any = None) -> dict[str, Any]:
    text = bundle_json(to_bundle(observations, subject=subject))
    Bundle.model_validate_json(text)
    bundle: dict[str, Any] = json.loads(text)
    return bundle


def _observations(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]


def _temperature(source: Source = PHD_SOURCE, **kw: Any) -> Observation:
    return make_observation("body_temperature", source=source, effective=T, value="37.2", **kw)


def test_full_urls_are_uuid5_of_the_observation_id_and_absolute_for_devices() -> None:
    obs = _temperature()
    bundle = _bundle([obs])
    urls = {e["resource"]["resourceType"]: e["fullUrl"] for e in bundle["entry"]}
    assert urls["Observation"] == f"urn:uuid:{uuid.uuid5(NAMESPACE, obs.id)}"
    for entry in bundle["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert uuid.UUID(entry["fullUrl"][9:]).version == 5
    assert _bundle([obs]) == bundle  # deterministic: a re-sent reading maps to the same URLs


def test_every_reference_resolves_inside_the_bundle_gateway_included() -> None:
    bundle = _bundle([_temperature()], subject="Patient/r-1")
    report = check_bundle(bundle, external={"Patient/r-1"})
    assert report.errors == []
    gateways = [
        e["resource"] for e in bundle["entry"] if "urn:hjem:gateway" in json.dumps(e["resource"])
    ]
    assert len(gateways) == 1


def test_room_motion_and_button_claim_no_phd_profile_or_category() -> None:
    readings = [
        make_observation("room_temperature", source=BARE, effective=T, value="21.5"),
        make_observation("motion", source=BARE, effective=T, value_boolean=True),
        make_observation("button", source=BARE, effective=T, value_code="press"),
    ]
    for res in _observations(_bundle(readings, subject="Patient/r-1")):
        assert "profile" not in res.get("meta", {}), res["code"]
        codes = [c["code"] for cat in res.get("category", []) for c in cat["coding"]]
        assert "phd" not in codes, res["code"]


def test_a_vital_sign_carries_its_loinc_code_from_the_codes_table() -> None:
    mdc_only = _temperature().model_copy(update={"code": _temperature().code[:1]})
    (res,) = _observations(_bundle([mdc_only]))
    assert {"system": "http://loinc.org", "code": "8310-5"} in res["code"]["coding"]
    cats = [c["code"] for cat in res["category"] for c in cat["coding"]]
    assert cats == ["vital-signs", "phd"]


def test_blood_pressure_components_sent_with_mdc_only_get_their_loinc() -> None:
    parts = [
        component("blood_pressure_systolic", "120"),
        component("blood_pressure_diastolic", "80"),
    ]
    mdc_only = [c.model_copy(update={"code": c.code[:1]}) for c in parts]
    bp = make_observation("blood_pressure", source=PHD_SOURCE, effective=T, components=mdc_only)
    (res,) = _observations(_bundle([bp], subject="Patient/r-1"))
    assert res["meta"]["profile"] == [PHD + "PhdCompoundNumericObservation"]
    loinc = [
        c["code"]
        for comp in res["component"]
        for c in comp["code"]["coding"]
        if "loinc" in c["system"]
    ]
    assert loinc == ["8480-6", "8462-4"]


def test_status_flags_use_the_measurement_status_code_system() -> None:
    obs = _temperature(flags=["questionable-measurement", "irregular-pulse", "early-estimate"])
    (res,) = _observations(_bundle([obs]))
    systems = {c["system"] for i in res["interpretation"] for c in i["coding"]}
    assert systems == {POCD}
    assert sorted(c["code"] for i in res["interpretation"] for c in i["coding"]) == [
        "early-indication",
        "questionable",
    ]
    kept = [e["valueCode"] for e in res["extension"] if e["url"].endswith(":flag")]
    assert kept == ["questionable-measurement", "irregular-pulse", "early-estimate"]


def test_test_and_demonstration_flags_give_htest() -> None:
    (res,) = _observations(_bundle([_temperature(flags=["testing-data"])]))
    assert res["meta"]["security"][0]["code"] == "HTEST"


def test_dedup_identifier_follows_the_phd_rule() -> None:
    obs = _temperature(device_time="2026-11-28T08:15:00")
    (res,) = _observations(_bundle([obs], subject="Patient/r-1"))
    seconds = int((datetime(2026, 11, 28, 8, 15) - datetime(2000, 1, 1)).total_seconds())
    phd = [i for i in res["identifier"] if i["system"] == PHD + "PhdBaseObservation"]
    assert phd == [
        {"system": PHD + "PhdBaseObservation", "value": f"AABBCCDDEEFF-r-1-150364-{seconds}"}
    ]
    assert {"system": "urn:hjem:observation", "value": obs.id} in res["identifier"]
    (anonymous,) = _observations(_bundle([obs]))  # no patient: no PHD identifier
    assert [i["system"] for i in anonymous["identifier"]] == ["urn:hjem:observation"]


def test_subject_is_present_whenever_the_resident_is_known() -> None:
    known = _temperature()
    other = _temperature(source=BARE.model_copy(update={"device": DeviceInfo(id="ble-other")}))
    residents = {"ble-AABBCCDDEEFF": "Patient/r-1"}
    bundle = _bundle([known, other], subject=lambda o: residents.get(o.source.device.id))
    by_device = {r["device"]["reference"]: r for r in _observations(bundle)}
    subjects = sorted(str(r.get("subject")) for r in by_device.values())
    assert subjects == ["None", "{'reference': 'Patient/r-1'}"]
    assert check_bundle(bundle, checker(), external={"Patient/r-1"}).errors == []


def test_device_meets_phd_device() -> None:
    source = PHD_SOURCE.model_copy(
        update={"device": PHD_SOURCE.device.model_copy(update={"system_id": "711000FEFF5F49B0"})}
    )
    bundle = _bundle([_temperature(source=source)], subject="Patient/r-1")
    device = next(
        e["resource"] for e in bundle["entry"] if "urn:hjem:device" in json.dumps(e["resource"])
    )
    assert device["meta"]["profile"] == [PHD + "PhdDevice"]
    types = {i["type"]["coding"][0]["code"]: i for i in device["identifier"] if "type" in i}
    assert types["SYSID"]["value"] == "71-10-00-FE-FF-5F-49-B0"
    assert types["BTMAC"]["value"] == "AA-BB-CC-DD-EE-FF"
    assert device["type"]["coding"][0]["code"] == "65573"
    assert device["specialization"][0]["systemType"]["coding"][0]["code"] == "528392"
    assert device["version"][0]["type"]["coding"][0]["code"] == "531976"
    report = checker().check(device, PHD + "PhdDevice")
    assert report.errors == []
    (res,) = _observations(bundle)
    assert res["identifier"][0]["value"].startswith("711000FEFF5F49B0-r-1-150364-")


def test_a_device_without_manufacturer_model_firmware_claims_no_phd_profile() -> None:
    bundle = _bundle([_temperature(source=BARE)], subject="Patient/r-1")
    assert all(PHD not in json.dumps(e["resource"].get("meta", {})) for e in bundle["entry"])
    assert check_bundle(bundle, checker(), external={"Patient/r-1"}).errors == []
