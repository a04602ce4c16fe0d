"""What the published JSON Schema says beyond the fields: value kinds and the codes table.

The models check these rules in code (model validators, :mod:`schemas.code_rules`); here they
are written as JSON Schema (draft 2020-12) for the generated files in ``schemas/json/``, so a
vendor's own validator refuses what the hub refuses wherever JSON Schema can say it:

* exactly one value kind (``oneOf``), a ``value`` with its ``unit``, a ``unit`` only with a
  ``value``; in a component not both ``value`` and ``data_absent_reason``;
* per code of ``codes.toml`` (any coding, any system) the units it allows (an ``if``/``then``
  per code family: system and set of units);
* per first coding in MDC or the Hjem system: which value kinds it takes (a boolean, an
  event's ``value_code``, ``components``), the events of an event code, and that a Hjem code
  is one of the table's.

What only the validator checks is listed in ``schemas/README.md`` ("What only the validator
checks"); ``tests/schemas/test_json_schema_strength.py`` keeps that list honest.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.codes import HJEM_SYSTEM, MDC_SYSTEM, CodesTable, codes

__all__ = ["component_rules", "observation_rules"]

Schema = dict[str, Any]
VALUE_KINDS = ("value", "value_boolean", "value_code", "components", "data_absent_reason")
_OURS = (MDC_SYSTEM, HJEM_SYSTEM)


def _present(name: str) -> Schema:
    """The field is given and not null (a null field counts as absent, as in the models)."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _absent(name: str) -> Schema:
    return {"properties": {name: {"type": "null"}}}


def _codings(system: str, names: list[str]) -> Schema:
    return {
        "required": ["system", "code"],
        "properties": {"system": {"const": system}, "code": {"enum": sorted(names)}},
    }


def _unit_families(table: CodesTable) -> dict[tuple[str, frozenset[str]], list[str]]:
    """(system, allowed units) -> the codes of that system that allow exactly those units."""
    families: dict[tuple[str, frozenset[str]], list[str]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for measure in table:
        for item in measure.coded:
            key = (item.coding.system, item.coding.code)
            units = table.units_of(*key)
            if key in seen or units is None:
                continue
            seen.add(key)
            families[(key[0], units)].append(key[1])
    return dict(sorted(families.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))))


def _unit_rule(system: str, units: frozenset[str], names: list[str]) -> Schema:
    unit: Schema = {"anyOf": [{"enum": sorted(units)}, {"type": "null"}]} if units else {}
    return {
        "if": {"required": ["code"], "properties": {"code": {"contains": _codings(system, names)}}},
        "then": {"properties": {"unit": unit or {"type": "null"}}},
    }


def _first_code(system: str, names: list[str]) -> Schema:
    """The first coding is one of ``names`` in ``system``."""
    return {
        "required": ["code"],
        "properties": {"code": {"prefixItems": [_codings(system, names)]}},
    }


def _primary_rules(table: CodesTable) -> list[Schema]:
    """Kinds and events of first codings in MDC and the Hjem system."""
    lacking: dict[tuple[str, str], list[str]] = defaultdict(list)
    events: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    hjem_codes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for measure in table:
        system, code = measure.primary.system, measure.primary.code
        if (system, code) in seen:
            continue
        seen.add((system, code))
        if system == HJEM_SYSTEM:
            hjem_codes.append(code)
        sharing = table.by_primary(system, code)
        kinds = {m.kind for m in sharing}
        for kind, field in (("boolean", "value_boolean"), ("compound", "components")):
            if kind not in kinds:
                lacking[(system, field)].append(code)
        allowed = tuple(sorted({e for m in sharing for e in m.events}))
        events[(system, allowed)].append(code)
    rules: list[Schema] = [
        {
            "if": _first_code(system, names),
            "then": {"properties": {field: {"maxItems": 0}}}
            if field == "components"
            else _absent(field),
        }
        for (system, field), names in sorted(lacking.items())
    ]
    for (system, allowed), names in sorted(events.items()):
        value_code: Schema = (
            {"anyOf": [{"enum": list(allowed)}, {"type": "null"}]} if allowed else {"type": "null"}
        )
        rules.append(
            {"if": _first_code(system, names), "then": {"properties": {"value_code": value_code}}}
        )
    rules.append(_hjem_codes_rule(hjem_codes))
    return rules


def _hjem_codes_rule(names: list[str]) -> Schema:
    """A first coding in the Hjem system is one of the table's Hjem codes."""
    hjem = {"required": ["system"], "properties": {"system": {"const": HJEM_SYSTEM}}}
    first = {"required": ["code"], "properties": {"code": {"prefixItems": [hjem]}}}
    return {"if": first, "then": _first_code(HJEM_SYSTEM, names)}


def observation_rules(table: CodesTable | None = None) -> list[Schema]:
    """The ``allOf`` of an Observation beyond its fields."""
    table = table or codes()
    kinds: Schema = {
        "oneOf": [
            _present(k)
            if k != "components"
            else {"required": [k], "properties": {k: {"minItems": 1}}}
            for k in VALUE_KINDS
        ]
    }
    pairs = [
        {"if": _present("value"), "then": _present("unit")},
        {"if": _present("unit"), "then": _present("value")},
    ]
    units = [_unit_rule(s, u, n) for (s, u), n in _unit_families(table).items()]
    return [kinds, *pairs, *units, *_primary_rules(table)]


def component_rules(table: CodesTable | None = None) -> list[Schema]:
    """The ``allOf`` of a Component: its value kinds, and units per code for a value.

    A component's first coding in MDC or the Hjem system that takes no unit (a compound or
    boolean code) is not judged by the validator, so only later codings of that kind are
    refused here (``items`` after the first)."""
    table = table or codes()
    rules: list[Schema] = [
        {"not": {"allOf": [_present("value"), _present("data_absent_reason")]}},
        {"if": _present("value"), "then": _present("unit")},
    ]
    unitless_ours: list[Schema] = []
    for (system, units), names in _unit_families(table).items():
        if not units and system in _OURS:
            unitless_ours.append(_codings(system, names))
            continue
        rule = _unit_rule(system, units, names)
        rule["if"] = {"allOf": [_present("value"), rule["if"]]}
        rules.append(rule)
    if unitless_ours:
        later = {"prefixItems": [True], "items": {"not": {"anyOf": unitless_ours}}}
        rules.append({"if": _present("value"), "then": {"properties": {"code": later}}})
    return rules
