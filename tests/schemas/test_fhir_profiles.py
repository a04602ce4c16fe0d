"""The profile checker (schemas/fhir_profiles.py) on the PHD IG's own examples and on broken
copies of them, then Hjem's FHIR output for every example batch and decoder vector.

The IG examples are read from a local copy of HL7/phd (tests/fhir_ig/README.md); without one
those tests are skipped. The tests on Hjem's own output always run, with the same breaks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from schemas.builders import component, make_observation
from schemas.fhir import bundle_json, to_bundle
from schemas.fhir_profiles import check_bundle
from schemas.models import Batch, DeviceInfo, Observation, Source
from tests.edge.decoders.helpers import load, run_vector
from tests.support.fhir_profiles import checker, ig_example, ig_examples_dir

PHD = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "valid"
needs_ig = pytest.mark.skipif(
    ig_examples_dir() is None, reason="no local HL7/phd copy (see tests/fhir_ig/README.md)"
)
Mutation = Callable[[dict[str, Any]], None]


def _resources(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document["resourceType"] == "Bundle":
        return [e["resource"] for e in document["entry"]]
    return [document]


def _drop_category(r: dict[str, Any]) -> None:
    r["category"] = [c for c in r["category"] if "phd" not in json.dumps(c)]


def _private_interpretation(r: dict[str, Any]) -> None:
    r["interpretation"] = [{"coding": [{"system": "urn:hjem:flag", "code": "x"}]}]


def _conditional_type(r: dict[str, Any]) -> None:
    r["identifier"] = [{"system": PHD + "PhdBaseObservation", "value": "x", "type": {"text": "t"}}]


def _set(path: str, value: Any) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        *head, last = path.split(".")
        target: Any = r
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value

    return mutate


def _drop(key: str) -> Mutation:
    return lambda r: r.pop(key)


def _drop_typed_identifier(code: str) -> Mutation:
    def mutate(r: dict[str, Any]) -> None:
        for i in r["identifier"]:
            if code in json.dumps(i.get("type", {})):
                i["system"] = "urn:example:wrong"

    return mutate


def _drop_gateway(r: dict[str, Any]) -> None:
    r["extension"] = [e for e in r["extension"] if "gatewayDevice" not in e["url"]]


# (profile, break, what the checker must name)
OBSERVATION_BREAKS: list[tuple[str, Mutation, str]] = [
    ("PhdNumericObservation", _drop("subject"), "subject: 0 given, at least 1"),
    ("PhdNumericObservation", _drop("device"), "device: 0 given, at least 1"),
    ("PhdNumericObservation", _drop_gateway, "extension:GatewayDevice: 0 given"),
    ("PhdNumericObservation", _drop_category, "category:PHD-Observation: 0 given"),
    ("PhdNumericObservation", _set("valueQuantity.system", "urn:x"), "is not the fixed"),
    ("PhdNumericObservation", lambda r: r["valueQuantity"].pop("code"), "code: 0 given"),
    ("PhdNumericObservation", _set("valueString", "37"), "valueString is not allowed"),
    ("PhdNumericObservation", _private_interpretation, "MsmtStatusInterpretation: 0 given"),
    ("PhdNumericObservation", _conditional_type, "conditionalCreate.type: 1 given, at most 0"),
    (
        "PhdNumericObservation",
        _set("dataAbsentReason", {"coding": [{"system": "urn:x", "code": "gone"}]}),
        "is not in the required http://hl7.org/fhir/ValueSet/data-absent-reason",
    ),
    (
        "PhdCompoundNumericObservation",
        _set("valueQuantity", {"value": 1, "system": "http://unitsofmeasure.org", "code": "1"}),
        "value[x]: 1 given, at most 0",
    ),
    (
        "PhdCompoundNumericObservation",
        _set("component.0.code", {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}),
        "coding:MdcType: 0 given, at least 1",
    ),
]
DEVICE_BREAKS: list[tuple[str, Mutation, str]] = [
    ("PhdDevice", _drop("manufacturer"), "manufacturer: 0 given, at least 1"),
    ("PhdDevice", _drop("modelNumber"), "modelNumber: 0 given, at least 1"),
    ("PhdDevice", _set("type", {"coding": [{"system": "urn:x", "code": "1"}]}), "PhdCode: 0 given"),
    (
        "PhdDevice",
        _set("specialization", [{"systemType": {"coding": [{"code": "1"}]}, "version": "1"}]),
        "specialization:MDCType: 0 given, at least 1",
    ),
    ("PhdDevice", _set("version", [{"type": {"text": "fw"}, "value": "1"}]), "version:MDCType: 0"),
    ("PhdDevice", _drop_typed_identifier("BTMAC"), "btmacAddressIdentifier.system"),
    ("PhgDevice", _set("type", {"coding": [{"system": "urn:x", "code": "1"}]}), "MDCType: 0 given"),
]
BREAKS = OBSERVATION_BREAKS + DEVICE_BREAKS
BREAK_IDS = [f"{profile}: {named}" for profile, _, named in BREAKS]
IG_FILES = {
    "PhdNumericObservation": "temperature-observation.json",
    "PhdCompoundNumericObservation": "compound-numeric-blood-pressure.json",
    "PhdDevice": "phd-711000FEFF5F49B0.B0495F001071.json",
    "PhgDevice": "phg-example.json",
}


@needs_ig
def test_every_ig_example_meets_the_profiles_it_claims() -> None:
    folder = ig_examples_dir()
    assert folder is not None
    checked = 0
    for path in sorted(folder.glob("*.json")):
        for resource in _resources(json.loads(path.read_text(encoding="utf-8"))):
            for url, report in checker().check_claims(resource).items():
                assert report.errors == [], (path.name, url)
                checked += 1
    assert checked >= 50  # 13 example files and 2 bundles claim the six profiles


@needs_ig
def test_the_ig_example_bundle_passes_the_bundle_checks() -> None:
    report = check_bundle(ig_example("bundle-example-1.json"), checker())
    assert report.errors == []


@needs_ig
@pytest.mark.parametrize(("profile", "mutate", "named"), BREAKS, ids=BREAK_IDS)
def test_each_break_of_an_ig_example_is_caught(profile: str, mutate: Mutation, named: str) -> None:
    example = ig_example(IG_FILES[profile])
    assert checker().check(example, PHD + profile).errors == []
    broken = copy.deepcopy(example)
    mutate(broken)
    errors = checker().check(broken, PHD + profile).errors
    assert any(named in e for e in errors), errors


def test_bundle_checks_catch_bad_full_urls_and_dangling_references() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:1234", "resource": {"resourceType": "Observation"}},
            {
                "fullUrl": "Device/dev-1",
                "resource": {"resourceType": "Observation", "device": {"reference": "Device/x"}},
            },
        ],
    }
    errors = check_bundle(bundle).errors
    assert any("urn:uuid:1234 is not urn:uuid:<UUID>" in e for e in errors)
    assert any("'Device/dev-1' is not an absolute URL" in e for e in errors)
    assert any("Device/x is not in the Bundle" in e for e in errors)


# ---- Hjem's output ------------------------------------------------------------------------

T = datetime(2026, 11, 28, 7, 15, tzinfo=UTC)


def _known(obs: Observation) -> Observation:
    """The reading as from a device whose manufacturer, model and firmware the gateway read."""
    dev = obs.source.device.model_copy(
        update={"manufacturer": "Acme", "model": "M1", "firmware": "1.0", "system_id": None}
    )
    return obs.model_copy(update={"source": obs.source.model_copy(update={"device": dev})})


def _hjem_readings() -> list[Observation]:
    out: list[Observation] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        out.extend(Batch.model_validate_json(path.read_text(encoding="utf-8")).observations)
    for vector in load("gatt.json") + load("adverts.json"):
        if "error" not in vector:
            out.extend(run_vector(vector))
    return out


READINGS = _hjem_readings()


def _claims(bundle: dict[str, Any]) -> set[str]:
    return {
        url.rsplit("/", 1)[1]
        for e in bundle["entry"]
        for url in e["resource"].get("meta", {}).get("profile", [])
    }


@pytest.mark.parametrize("known", [True, False], ids=["device-known", "device-bare"])
def test_hjem_output_meets_every_profile_it_claims(known: bool) -> None:
    readings = [_known(o) if known else o for o in READINGS]
    text = bundle_json(to_bundle(readings, subject="Patient/r-1"))
    Bundle.model_validate_json(text)
    bundle = json.loads(text)
    report = check_bundle(bundle, checker(), external={"Patient/r-1"})
    assert report.errors == []
    claims = _claims(bundle)
    if known:  # every profile Hjem can claim is claimed somewhere, and so checked
        assert claims == {
            "PhdNumericObservation",
            "PhdCompoundNumericObservation",
            "PhdDevice",
            "PhgDevice",
        }
        assert sum("PhdNumericObservation" in json.dumps(r) for r in _resources(bundle)) > 20
    else:
        assert "PhdNumericObservation" not in claims


def _hjem(profile: str) -> dict[str, Any]:
    src = Source(
        publisher="gw-1",
        gateway="gw-1",
        device=DeviceInfo(
            id="ble-1", address="AA:BB:CC:DD:EE:FF", manufacturer="A", model="M", firmware="1"
        ),
    )
    if profile == "PhdCompoundNumericObservation":
        parts = [
            component("blood_pressure_systolic", "120"),
            component("blood_pressure_diastolic", "80"),
        ]
        obs = make_observation("blood_pressure", source=src, effective=T, components=parts)
    else:
        obs = make_observation("body_temperature", source=src, effective=T, value="37.0")
    bundle = json.loads(bundle_json(to_bundle([obs], subject="Patient/r-1")))
    wanted = PHD + profile
    return next(r for r in _resources(bundle) if wanted in r.get("meta", {}).get("profile", []))


@pytest.mark.parametrize(("profile", "mutate", "named"), BREAKS, ids=BREAK_IDS)
def test_each_break_of_hjem_output_is_caught(profile: str, mutate: Mutation, named: str) -> None:
    resource = _hjem(profile)
    assert checker().check(resource, PHD + profile).errors == []
    mutate(resource)
    errors = checker().check(resource, PHD + profile).errors
    assert any(named in e for e in errors), errors


def test_a_reference_to_a_device_that_does_not_claim_the_target_profile_is_caught() -> None:
    readings = [_known(o) for o in READINGS[:3]]
    bundle = json.loads(bundle_json(to_bundle(readings, subject="Patient/r-1")))
    assert check_bundle(bundle, checker(), external={"Patient/r-1"}).errors == []
    for entry in bundle["entry"]:
        if PHD + "PhgDevice" in json.dumps(entry["resource"].get("meta", {})):
            del entry["resource"]["meta"]
    errors = check_bundle(bundle, checker(), external={"Patient/r-1"}).errors
    assert any("claims none of ['" + PHD + "PhgDevice']" in e for e in errors), errors


def test_a_binding_to_a_value_set_not_held_locally_is_reported_unchecked() -> None:
    report = checker().check(
        _hjem("PhdCompoundNumericObservation"), PHD + "PhdCompoundNumericObservation"
    )
    assert report.errors == []
    assert report.unchecked == {"http://hl7.org/fhir/uv/phd/ValueSet/MDCnotObject"}
