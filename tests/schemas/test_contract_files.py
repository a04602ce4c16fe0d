"""The committed JSON Schema files, examples and codes table agree with the models."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from schemas import codes, validate_batch
from schemas.codes import HJEM_SYSTEM, MDC_SYSTEM
from schemas.export import JSON_DIR, json_schemas, render

from .factories import NOW

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_committed_json_schema_matches_models(name: str) -> None:
    committed = (JSON_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == render(json_schemas()[name]), (
        f"schemas/json/{name}.schema.json is stale: run `hjem schema export schemas/json`"
    )


def test_json_schemas_are_valid_draft_2020_12() -> None:
    for document in json_schemas().values():
        jsonschema.Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=lambda p: p.name)
def test_valid_examples(path: Path) -> None:
    payload = path.read_bytes()
    result = validate_batch(payload, now=NOW)
    assert result.errors == []
    assert len(result.accepted) == len(json.loads(payload)["observations"])
    schema = json.loads((JSON_DIR / "batch.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(payload))


def _expected() -> dict[str, dict[str, str]]:
    return tomllib.loads((EXAMPLES / "invalid" / "expected.toml").read_text())


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "invalid").glob("*.json")), ids=lambda p: p.name
)
def test_invalid_examples(path: Path) -> None:
    expected = _expected()[path.name]
    result = validate_batch(path.read_bytes(), now=NOW)
    assert result.accepted == []
    first = result.errors[0]
    assert first.path == expected["path"]
    assert expected["reason"] in first.reason


def test_every_invalid_example_has_an_expectation() -> None:
    names = {p.name for p in (EXAMPLES / "invalid").glob("*.json")}
    assert names == set(_expected())


def test_codes_table_is_consistent() -> None:
    table = codes()
    assert len(table) >= 40
    for measure in table:
        assert measure.display
        assert measure.display_da
        if measure.kind == "quantity":
            assert measure.units, measure.key
        if measure.kind == "event":
            assert measure.events, measure.key
        for member in measure.components:
            assert table[member].kind == "quantity"
        primary = measure.primary
        if measure.supplemental:  # fast/slow pulse oximetry: Hjem code first, then the MDC term
            assert primary.system == HJEM_SYSTEM
            assert measure.codings[1].system == MDC_SYSTEM
        else:
            assert primary.system == (MDC_SYSTEM if measure.mdc else HJEM_SYSTEM)
    assert table["spo2"].npu == "NPU03011"
    assert table["blood_pressure_systolic"].loinc == "8480-6"
    assert table["body_temperature"].unit == "Cel"


# UCUM units ucumvert's grammar does not know, though they are valid UCUM: "B[mW]" (bel
# milliwatt, here with the prefix d) is in UCUM's table of levels.
UCUM_BEYOND_UCUMVERT = {"dB[mW]"}


def test_every_unit_in_the_codes_table_is_ucum() -> None:
    from ucumvert import get_ucum_parser

    parser = get_ucum_parser()
    units = {u for m in codes() for u in m.units}
    assert "mm[Hg]" in units
    for unit in sorted(units - UCUM_BEYOND_UCUMVERT):
        parser.parse(unit)  # raises on anything that is not UCUM
