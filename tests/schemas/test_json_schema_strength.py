"""The published JSON Schema refuses what the validator refuses, wherever JSON Schema can say it.

A corpus of bad messages: every one is refused by ``validate_batch`` (the hub's and
``hjem schema validate``'s rules); those JSON Schema can express are refused by the generated
``schemas/json/batch.schema.json`` too (the ``jsonschema`` package), and the others, which it
lets through, are exactly the list "What only the validator checks" in ``schemas/README.md``.
Every measure of the codes table, in every unit and kind, passes both: the schema is not
stricter than the validator.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import validate_batch
from schemas.codes import HJEM_SYSTEM, LOINC_SYSTEM, MDC_SYSTEM, NPU_SYSTEM, codes
from schemas.export import JSON_DIR

from .factories import NOW, batch, observation

ROOT = Path(__file__).resolve().parents[2]
Message = dict[str, Any]


def _schema() -> jsonschema.Draft202012Validator:
    document = json.loads((JSON_DIR / "batch.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(document)


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def MDC(code: str) -> dict[str, str]:  # noqa: N802 - reads like the system's name
    return _coding(MDC_SYSTEM, code)


def HJEM(code: str) -> dict[str, str]:  # noqa: N802
    return _coding(HJEM_SYSTEM, code)


def _obs(**over: Any) -> Message:
    """A valid batch of one observation, changed by ``over`` (None removes a field)."""
    message = batch(1)
    obs = message["observations"][0]
    for key, value in over.items():
        if value is None:
            obs.pop(key, None)
        else:
            obs[key] = value
    return message


def _bp(**component_over: Any) -> Message:
    comp: dict[str, Any] = {"code": [MDC("150021")], "value": "128", "unit": "mm[Hg]"}
    comp.update(component_over)
    comp = {k: v for k, v in comp.items() if v is not None}
    return _obs(value=None, unit=None, code=[MDC("150020")], components=[comp])


@dataclass(frozen=True)
class Bad:
    message: Message | str
    only_validator: str | None = None
    """The README's key for a rule JSON Schema cannot express; None: the schema refuses it."""
    sender: str | None = None


def _big() -> Message:
    device = {"id": "d1", "serial": "s" * 128, "manufacturer": "m" * 128, "model": "x" * 128}
    message = batch(1)
    base = message["observations"][0]
    message["observations"] = [
        {**copy.deepcopy(base), "id": f"obs-{i}", "source": {"publisher": "gw-1", "device": device}}
        for i in range(1000)
    ]
    return message


def _two(mutate: Callable[[Message], None]) -> Message:
    message = batch(2)
    mutate(message)
    return message


CORPUS: dict[str, Bad] = {
    "time without offset": Bad(_obs(effective="2026-11-28T08:59:00")),
    "sent without offset": Bad({**batch(1), "sent": "2026-11-28T09:00:00"}),
    "date without time": Bad(_obs(effective="2026-11-28")),
    "two values": Bad(_obs(value_boolean=True)),
    "value and absent reason": Bad(_obs(data_absent_reason="unknown")),
    "no value": Bad(_obs(value=None, unit=None)),
    "value without unit": Bad(_obs(unit=None)),
    "unit without value": Bad(_obs(value=None, value_boolean=True, code=[HJEM("motion")])),
    "value as a number": Bad(_obs(value=97)),
    "unknown field": Bad(_obs(colour="red")),
    "unit not allowed for the MDC code": Bad(_obs(unit="C")),
    "unit not allowed for a LOINC code": Bad(
        _obs(code=[MDC("160184"), _coding(LOINC_SYSTEM, "2339-0")], value="5.5", unit="mmol/L")
    ),
    "unit not allowed for an NPU code": Bad(
        _obs(code=[MDC("150364"), _coding(NPU_SYSTEM, "NPU08676")], value="99.1", unit="[degF]")
    ),
    "LOINC code first, unit not allowed": Bad(
        _obs(code=[_coding(LOINC_SYSTEM, "8310-5")], value="37.0", unit="kg")
    ),
    "value for a boolean code": Bad(_obs(code=[HJEM("motion")], value="1", unit="1")),
    "boolean for a quantity code": Bad(_obs(value=None, unit=None, value_boolean=True)),
    "event not defined for the code": Bad(
        _obs(value=None, unit=None, code=[HJEM("button")], value_code="explode")
    ),
    "event for a quantity code": Bad(_obs(value=None, unit=None, value_code="press")),
    "components for a simple code": Bad(
        _obs(
            value=None,
            unit=None,
            components=[{"code": [MDC("150021")], "value": "120", "unit": "mm[Hg]"}],
        )
    ),
    "unknown Hjem code": Bad(_obs(code=[HJEM("teleport")], value="1", unit="1")),
    "component unit not allowed": Bad(_bp(unit="Cel")),
    "component value without unit": Bad(_bp(unit=None)),
    "component value and absent reason": Bad(_bp(data_absent_reason="error")),
    "component unit not allowed for its LOINC code": Bad(
        _bp(code=[MDC("150021"), _coding(LOINC_SYSTEM, "85354-9")])
    ),
    "component unit not allowed under an unknown MDC code": Bad(
        _obs(
            value=None,
            unit=None,
            code=[MDC("999999")],
            components=[{"code": [MDC("150021")], "value": "120", "unit": "Cel"}],
        )
    ),
    # JSON Schema cannot say these; schemas/README.md lists them.
    "value outside the possible range": Bad(_obs(value="101"), "range"),
    "effective in the future": Bad(_obs(effective="2026-11-28T10:00:00Z"), "future"),
    "sent in the future": Bad({**batch(1), "sent": "2026-11-28T09:30:00Z"}, "future"),
    "effective before 2000": Bad(_obs(effective="1999-12-31T23:59:59Z"), "before-2000"),
    "effective before 2000 once in UTC": Bad(
        _obs(effective="2000-01-01T00:30:00+01:00"), "before-2000"
    ),
    "a day that does not exist": Bad(_obs(effective="2026-02-30T08:00:00Z"), "calendar"),
    "source publisher is not the batch's": Bad(
        _obs(source={"publisher": "gw-2", "device": {"id": "d1"}}), "publisher"
    ),
    "batch publisher is not the sender": Bad(batch(1), "sender", sender="gw-2"),
    "one observation id twice": Bad(
        _two(lambda m: m["observations"][1].update(id="obs-0")), "duplicate-id"
    ),
    "a repeated key": Bad(
        json.dumps(batch(1)).replace('"value": "97"', '"value": "97", "value": "98"'),
        "repeated-key",
    ),
    "message larger than 256 KiB": Bad(_big(), "size"),
}


def _parsed(message: Message | str) -> Any:
    return json.loads(message) if isinstance(message, str) else message


def _payload(message: Message | str) -> str:
    return message if isinstance(message, str) else json.dumps(message)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_validator_refuses_every_bad_message(name: str) -> None:
    bad = CORPUS[name]
    result = validate_batch(_payload(bad.message), now=NOW, expected_publisher=bad.sender)
    assert result.errors, name  # all of it, or the bad observation (a repeated id: the second)
    assert len(result.accepted) < len(_parsed(bad.message)["observations"]), name


@pytest.mark.parametrize("name", sorted(n for n, b in CORPUS.items() if b.only_validator is None))
def test_the_json_schema_refuses_what_it_can_express(name: str) -> None:
    assert not _schema().is_valid(_parsed(CORPUS[name].message)), name


@pytest.mark.parametrize("name", sorted(n for n, b in CORPUS.items() if b.only_validator))
def test_the_json_schema_lets_through_what_only_the_validator_checks(name: str) -> None:
    errors = [e.message for e in _schema().iter_errors(_parsed(CORPUS[name].message))]
    assert errors == [], name


def readme_only_validator_keys() -> set[str]:
    """The keys of the README's list "What only the validator checks" (``- `key` ...``)."""
    text = (ROOT / "schemas" / "README.md").read_text(encoding="utf-8")
    section = text.split("**What only the validator checks.**", 1)[1]
    listed = re.match(r"[\s\S]*?\n\n((?:- [^\n]*\n(?:  [^\n]*\n)*)+)", section)
    assert listed, "the README's list of what only the validator checks is missing"
    return set(re.findall(r"^- `([a-z0-9-]+)`", listed.group(1), flags=re.MULTILINE))


def test_the_readme_lists_exactly_what_only_the_validator_checks() -> None:
    in_corpus = {b.only_validator for b in CORPUS.values() if b.only_validator}
    assert readme_only_validator_keys() == in_corpus


def _measure_messages() -> list[tuple[str, Message]]:
    """One valid observation per measure of the codes table, in every unit it allows."""
    out: list[tuple[str, Message]] = []
    for measure in codes():
        base: dict[str, Any] = {"value": None, "unit": None}
        for unit in measure.units:
            coding = [c.model_dump(exclude_none=True) for c in measure.codings_for(unit)]
            low, high = measure.ranges.get(unit, (0.0, 1.0))
            value = f"{(low + high) / 2:.1f}"
            out.append((f"{measure.key} {unit}", _obs(code=coding, value=value, unit=unit)))
        codings = [c.model_dump(exclude_none=True) for c in measure.codings_for(None)]
        if measure.kind == "boolean":
            out.append((measure.key, _obs(**base, code=codings, value_boolean=True)))
        out.extend(
            (f"{measure.key} {event}", _obs(**base, code=codings, value_code=event))
            for event in measure.events
        )
        if measure.kind == "compound":
            members = [codes()[m] for m in measure.components]
            parts = [
                {
                    "code": [c.model_dump() for c in m.codings_for(m.unit)],
                    "value": "1",
                    "unit": m.unit,
                }
                for m in members
            ]
            out.append((measure.key, _obs(**base, code=codings, components=parts)))
        out.append(
            (f"{measure.key} absent", _obs(**base, code=codings, data_absent_reason="error"))
        )
    return out


def test_every_measure_passes_both_the_validator_and_the_json_schema() -> None:
    schema = _schema()
    messages = _measure_messages()
    assert len(messages) > 150
    for name, message in messages:
        result = validate_batch(json.dumps(message), now=NOW)
        assert result.errors == [], (name, result.errors)
        assert [e.message for e in schema.iter_errors(message)] == [], name


def test_observation_factory_is_valid() -> None:
    message = batch(3)
    message["observations"].append(observation(9, value="98"))
    assert _schema().is_valid(message)
