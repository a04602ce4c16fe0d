"""What the codes table says about an observation: kinds, units, events and possible ranges.

Kinds, events and ranges are judged for codes of Hjem's own systems (MDC and the Hjem code
system) in the first coding; a vendor's own code is not ours to judge. Units are judged for
every coding the table knows, in any position and any system (MDC, Hjem, LOINC, NPU): each
code in ``codes.toml`` lists the units it allows, so LOINC 2339-0 (glucose, mass
concentration) with a value in mmol/L, or NPU08676 (°C) with °F, is refused with both named.
Both the models' path (:mod:`schemas.validation`) and the hub's fast path run these checks,
so they agree.

Ranges (``range`` in ``codes.toml``) are per unit, wide physical or physiological limits: a
body temperature of 1e20 °C is refused with the path, the range and the unit. Values are
compared as floats (the decimal strings are at most 20 integer and 18 fractional digits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schemas.codes import (
    HJEM_SYSTEM,
    LOINC_SYSTEM,
    MDC_SYSTEM,
    NPU_SYSTEM,
    CodesTable,
    Measure,
)

if TYPE_CHECKING:
    from schemas.validation import ObservationFields

__all__ = ["check_codes"]


@dataclass(frozen=True, slots=True)
class _CodeRules:
    kinds: frozenset[str]
    units: frozenset[str]
    events: frozenset[str]
    ranges: dict[str, tuple[float, float]]
    """Per unit, the widest (min, max) of the measures that share the code."""
    display: str

    @property
    def kinds_text(self) -> str:
        return "/".join(sorted(self.kinds))


_RULES_CACHE: dict[tuple[int, str, str], _CodeRules | None] = {}


def _rules(table: CodesTable, system: str, code: str) -> _CodeRules | None:
    key = (id(table), system, code)
    if key not in _RULES_CACHE:
        measures = table.by_primary(system, code)
        _RULES_CACHE[key] = (
            _CodeRules(
                kinds=frozenset(m.kind for m in measures),
                units=frozenset(u for m in measures for u in m.units),
                events=frozenset(e for m in measures for e in m.events),
                ranges=_widest(measures),
                display=" / ".join(sorted({m.display for m in measures})),
            )
            if measures
            else None
        )
    return _RULES_CACHE[key]


def _widest(measures: list[Measure]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for measure in measures:
        for unit, (low, high) in measure.ranges.items():
            was = out.get(unit, (low, high))
            out[unit] = (min(was[0], low), max(was[1], high))
    return out


def _out_of_range(rules: _CodeRules, code: str, value: str, unit: str | None) -> str | None:
    """Why ``value`` (a valid decimal string) cannot be, or None if it is possible."""
    bounds = rules.ranges.get(unit) if unit is not None else None
    if bounds is None:
        return None
    low, high = bounds
    if low <= float(value) <= high:
        return None
    return (
        f"{value} {unit} is outside the possible range {low:g} to {high:g} {unit}"
        f" for code {code} ({rules.display})"
    )


_SYSTEM_NAMES = {MDC_SYSTEM: "MDC", HJEM_SYSTEM: "Hjem", LOINC_SYSTEM: "LOINC", NPU_SYSTEM: "NPU"}


def _unit_mismatches(
    codings: Sequence[Any], unit: str | None, table: CodesTable, path: str
) -> list[tuple[str, str]]:
    """Each coding the table knows whose code does not allow ``unit`` (a value's unit).

    A first coding in MDC or the Hjem system is left to the primary-code checks (their
    wording names the measure's units and possible range)."""
    problems: list[tuple[str, str]] = []
    ours = codings[0].system in (MDC_SYSTEM, HJEM_SYSTEM)
    for index, coding in enumerate(codings):
        if index == 0 and ours:
            continue
        allowed = table.units_of(coding.system, coding.code)
        if allowed is None or unit in allowed:
            continue
        name = _SYSTEM_NAMES.get(coding.system, coding.system)
        listed = ", ".join(sorted(allowed)) or "none: it takes no unit"
        reason = (
            f"{name} code {coding.code} does not allow unit {unit!r} (allowed: {listed});"
            " send the code that matches the unit, or convert the value"
        )
        problems.append((f"{path}code[{index}].code", reason))
    return problems


def _check_components(components: Sequence[Any], table: CodesTable) -> list[tuple[str, str]]:
    """Units and possible ranges of component values coded in MDC or the Hjem system."""
    problems: list[tuple[str, str]] = []
    for index, comp in enumerate(components):
        if comp.value is not None:
            mismatches = _unit_mismatches(comp.code, comp.unit, table, f"components[{index}].")
            if mismatches:
                problems.extend(mismatches)
                continue
        primary = comp.code[0]
        if comp.value is None or primary.system not in (MDC_SYSTEM, HJEM_SYSTEM):
            continue
        rules = _rules(table, primary.system, primary.code)
        if rules is None or "quantity" not in rules.kinds:
            continue
        path = f"components[{index}]"
        if comp.unit not in rules.units:
            allowed = ", ".join(sorted(rules.units))
            reason = f"unit {comp.unit!r} is not allowed for code {primary.code} ({allowed})"
            problems.append((f"{path}.unit", reason))
            continue
        why = _out_of_range(rules, primary.code, comp.value, comp.unit)
        if why is not None:
            problems.append((f"{path}.value", why))
    return problems


def check_codes(obs: ObservationFields, table: CodesTable) -> list[tuple[str, str]]:
    primary = obs.code[0]
    mismatches = [] if obs.value is None else _unit_mismatches(obs.code, obs.unit, table, "")
    if primary.system not in (MDC_SYSTEM, HJEM_SYSTEM):
        # another system's first code: only the units of codes the table knows are judged
        if mismatches:
            return mismatches
        return _check_components(obs.components, table) if obs.components else []
    rules = _rules(table, primary.system, primary.code)
    if rules is None:
        if primary.system == HJEM_SYSTEM:
            return [("code[0].code", f"unknown Hjem code {primary.code!r} (see codes.toml)")]
        if mismatches or not obs.components:  # an MDC code the table does not know
            return mismatches
        return _check_components(obs.components, table)
    return _check_known(obs, rules, mismatches, table)


def _check_known(
    obs: ObservationFields,
    rules: _CodeRules,
    mismatches: list[tuple[str, str]],
    table: CodesTable,
) -> list[tuple[str, str]]:
    """The rest of :func:`check_codes` for a first code the table knows (``rules``)."""
    code = obs.code[0].code
    if obs.value is not None and "quantity" not in rules.kinds:
        return [("value", f"code {code} takes no numeric value (it is {rules.kinds_text})")]
    if obs.value is not None and obs.unit not in rules.units:
        allowed = ", ".join(sorted(rules.units))
        return [("unit", f"unit {obs.unit!r} is not allowed for code {code} (allowed: {allowed})")]
    why = None if obs.value is None else _out_of_range(rules, code, obs.value, obs.unit)
    if why is not None:
        return [("value", why)]
    if mismatches:  # the first code allows the unit, a later one (LOINC, NPU) does not
        return mismatches
    if obs.value_boolean is not None and "boolean" not in rules.kinds:
        return [("value_boolean", f"code {code} is not a boolean state (it is {rules.kinds_text})")]
    if obs.value_code is not None and obs.value_code not in rules.events:
        allowed = ", ".join(sorted(rules.events))
        return [
            (
                "value_code",
                f"event {obs.value_code!r} is not defined for code {code} (allowed: {allowed})",
            )
        ]
    if obs.components and "compound" not in rules.kinds:
        return [("components", f"code {code} has no components (it is {rules.kinds_text})")]
    if obs.components:
        return _check_components(obs.components, table)
    return []
