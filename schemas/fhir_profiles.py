"""A small FHIR profile checker: cardinality, fixed and pattern values, required bindings.

It reads FHIR R4 ``StructureDefinition`` resources (their ``differential``, or the
``snapshot`` when there is no differential) and checks a resource against every element
rule it understands:

* ``min`` / ``max`` per context (``category:PHD-Observation.coding.system`` is counted in
  every coding of every category in that slice);
* ``fixed[x]`` (exact) and ``pattern[x]`` (the instance contains the pattern);
* ``type`` on a choice element (``value[x]`` only ``Quantity``) and ``max = 0``;
* ``binding`` with strength ``required``, when the value set is given locally as a set of
  ``(system, code)`` pairs; other value sets are listed in :attr:`Report.unchecked`;
* slices of an element (``element:sliceName``): an item belongs to a slice when its values at
  the slicing discriminator paths match the slice's fixed or pattern values, or lie in its
  required local value set; a slice that declares neither takes every item no other slice
  takes; extension slices are matched on the extension ``url``;
* references between Bundle entries (:func:`check_bundle`): every ``urn:uuid:`` reference
  resolves to an entry, and a reference whose element allows only some ``targetProfile``
  points at a resource that claims one of them.

It is not a full validator (no FHIRPath invariants, no snapshot generation, no terminology
server). Vendors can use it on their own output with the IG's published StructureDefinitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Profile", "ProfileChecker", "Report", "check_bundle"]

ValueSets = Mapping[str, frozenset[tuple[str, str]]]
_CHOICE = re.compile(r"^(?P<base>[a-zA-Z]+)\[x\]$")


@dataclass(frozen=True, slots=True)
class _Element:
    id: str
    raw: Mapping[str, Any]

    @property
    def segments(self) -> list[str]:
        return _split_id(self.id)[1:]


def _split_id(element_id: str) -> list[str]:
    """``Observation.value[x]:valueQuantity.code`` -> ``[Observation, value[x]:valueQuantity,
    code]`` (dots inside a slice name such as ``532354.0`` are kept)."""
    out: list[str] = []
    for part in element_id.split("."):
        if out and ":" in out[-1] and re.fullmatch(r"[0-9]+", part):
            out[-1] += "." + part
        else:
            out.append(part)
    return out


@dataclass(frozen=True, slots=True)
class Profile:
    """One StructureDefinition, reduced to what the checker reads."""

    url: str
    type: str
    elements: tuple[_Element, ...]
    base: str | None = None

    @classmethod
    def from_structure_definition(cls, sd: Mapping[str, Any]) -> Profile:
        part = sd.get("differential") or sd.get("snapshot")
        if not part:
            raise ValueError(f"StructureDefinition {sd.get('url')}: no differential or snapshot")
        elements = tuple(_Element(e.get("id") or e["path"], e) for e in part["element"])
        base = sd.get("baseDefinition")
        return cls(str(sd["url"]), str(sd["type"]), elements, str(base) if base else None)

    def element(self, element_id: str) -> Mapping[str, Any] | None:
        """The rules for one element id (a derived profile's rules over its base's)."""
        found = [e.raw for e in self.elements if e.id == element_id]
        if not found:
            return None
        merged: dict[str, Any] = {}
        for raw in found:
            merged.update(raw)
        return merged

    def slices(self, base_id: str) -> list[_Element]:
        """The slice elements (``base:name``) of one element, each once."""
        base = _split_id(base_id)
        seen: dict[str, _Element] = {}
        for e in self.elements:
            segs = _split_id(e.id)
            last = segs[-1]
            if (
                len(segs) == len(base)
                and segs[:-1] == base[:-1]
                and last.startswith(base[-1] + ":")
                and last.count(":") == base[-1].count(":") + 1
            ):
                seen.setdefault(e.id, e)
        return list(seen.values())

    def on(self, base: Profile) -> Profile:
        """This profile with its base profile's rules first."""
        return Profile(self.url, self.type, base.elements + self.elements, base.base)


@dataclass(slots=True)
class Report:
    """What one check found: ``errors`` (path: reason) and bindings it could not check."""

    errors: list[str] = field(default_factory=list)
    unchecked: set[str] = field(default_factory=set)
    targets: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """(where, reference, allowed target profiles) for :func:`check_bundle` to resolve."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _children(value: Any, name: str) -> list[Any]:
    """The values of ``name`` in ``value`` (a list flattened); ``x[x]`` matches any type."""
    if not isinstance(value, dict):
        return []
    choice = _CHOICE.match(name)
    if choice:
        base = choice["base"]
        found = [v for k, v in value.items() if k.startswith(base) and k[len(base) :][:1].isupper()]
    else:
        found = [value[name]] if name in value else []
    out: list[Any] = []
    for item in found:
        out.extend(item if isinstance(item, list) else [item])
    return out


def _at_path(value: Any, path: str) -> list[Any]:
    if path in ("$this", ""):
        return [value]
    current = [value]
    for name in path.split("."):
        current = [child for v in current for child in _children(v, name)]
    return current


def _matches_pattern(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _matches_pattern(value[k], p) for k, p in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(_matches_pattern(v, p) for v in items) for p in pattern)
    return bool(value == pattern)


def _fixed_or_pattern(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
    for key, value in raw.items():
        if key.startswith("fixed"):
            return "fixed", value
        if key.startswith("pattern"):
            return "pattern", value
    return None


def _value_ok(value: Any, rule: tuple[str, Any]) -> bool:
    kind, expected = rule
    return bool(value == expected) if kind == "fixed" else _matches_pattern(value, expected)


def _codes(value: Any) -> list[tuple[str, str]]:
    """(system, code) pairs of a code, Coding or CodeableConcept value."""
    if isinstance(value, str):
        return [("", value)]
    if isinstance(value, dict) and "coding" in value:
        return [c for v in value["coding"] for c in _codes(v)]
    if isinstance(value, dict) and "code" in value:
        return [(str(value.get("system", "")), str(value["code"]))]
    return []


def _in_value_set(value: Any, members: frozenset[tuple[str, str]]) -> bool:
    codes = _codes(value)
    bare = {code for _, code in members}
    return any((s, c) in members or (not s and c in bare) for s, c in codes)


class ProfileChecker:
    """Check resources against a set of profiles, with local value sets for bindings."""

    def __init__(self, profiles: Iterable[Profile], value_sets: ValueSets) -> None:
        self.profiles = {p.url: p for p in profiles}
        self.value_sets = dict(value_sets)

    def check(self, resource: Mapping[str, Any], profile_url: str) -> Report:
        """Check ``resource`` against one profile (and every profile it was derived from)."""
        profile = self.profiles.get(profile_url.split("|", maxsplit=1)[0])
        if profile is None:
            raise KeyError(f"profile {profile_url} is not loaded")
        while profile.base in self.profiles:
            profile = profile.on(self.profiles[str(profile.base)])
        report = Report()
        if resource.get("resourceType") != profile.type:
            report.errors.append(f"{profile.type}: resource is a {resource.get('resourceType')}")
            return report
        for element in profile.elements:
            self._check_element(resource, profile, element, report)
        return report

    def check_claims(self, resource: Mapping[str, Any]) -> dict[str, Report]:
        """Check every profile in ``meta.profile`` that is loaded."""
        claims = resource.get("meta", {}).get("profile", [])
        return {url: self.check(resource, url) for url in claims if url in self.profiles}

    # -- one element ------------------------------------------------------------------

    def _contexts(
        self, resource: Mapping[str, Any], profile: Profile, segments: list[str]
    ) -> list[tuple[str, Any]]:
        """(path, value) pairs reached by walking ``segments`` from the resource."""
        current: list[tuple[str, Any]] = [(profile.type, resource)]
        prefix = profile.type
        for segment in segments:
            prefix = f"{prefix}.{segment}"
            current = [
                (f"{path}.{segment}", child)
                for path, value in current
                for child in self._select(value, profile, prefix, segment)
            ]
        return current

    def _select(self, value: Any, profile: Profile, element_id: str, segment: str) -> list[Any]:
        name, _, slice_name = segment.partition(":")
        if slice_name and _CHOICE.match(name):  # value[x]:valueQuantity = the typed form
            return _children(value, slice_name)
        items = _children(value, name)
        if not slice_name:
            return items
        base_id = element_id.rsplit(":", 1)[0]
        return [i for i in items if self._slice_of(i, profile, base_id, name) == slice_name]

    def _slice_of(self, item: Any, profile: Profile, base_id: str, name: str) -> str | None:
        catch_all: str | None = None
        for s in profile.slices(base_id):
            slice_name = _split_id(s.id)[-1].rsplit(":", 1)[1]
            verdict = self._member(item, profile, s, name)
            if verdict is True:
                return slice_name
            if verdict is None:
                catch_all = slice_name
        return catch_all

    def _member(self, item: Any, profile: Profile, s: _Element, name: str) -> bool | None:
        """True/False when the slice's discriminator values decide; None when it has none."""
        if name in ("extension", "modifierExtension"):
            urls = [p for t in s.raw.get("type", []) for p in t.get("profile", [])]
            return bool(urls) and isinstance(item, dict) and item.get("url") in urls
        base = profile.element(s.id.rsplit(":", 1)[0]) or {}
        discriminators = base.get("slicing", {}).get("discriminator", [])
        decided: list[bool] = []
        for d in discriminators:
            path = d["path"]
            target = s.raw if path == "$this" else profile.element(f"{s.id}.{path}")
            if target is None:
                continue
            values = _at_path(item, path)
            rule = _fixed_or_pattern(target)
            members = self._required_members(target)
            if rule is not None:
                decided.append(any(_value_ok(v, rule) for v in values))
            elif members is not None:
                decided.append(any(_in_value_set(v, members) for v in values))
        return all(decided) if decided else None

    def _required_members(self, raw: Mapping[str, Any]) -> frozenset[tuple[str, str]] | None:
        binding = raw.get("binding", {})
        if binding.get("strength") != "required":
            return None
        return self.value_sets.get(str(binding.get("valueSet", "")).split("|")[0])

    def _check_element(
        self, resource: Mapping[str, Any], profile: Profile, element: _Element, report: Report
    ) -> None:
        segments = element.segments
        if not segments:
            return
        for path, parent in self._contexts(resource, profile, segments[:-1]):
            values = self._select(parent, profile, element.id, segments[-1])
            where = f"{path}.{segments[-1]}"
            self._check_values(values, element.raw, where, report)
            _check_choice_types(parent, segments[-1], element.raw, where, report)
            for target in _target_profiles(element.raw):
                report.targets.extend(
                    (where, v["reference"], target)
                    for v in values
                    if isinstance(v, dict) and "reference" in v
                )

    def _check_values(
        self, values: list[Any], raw: Mapping[str, Any], where: str, report: Report
    ) -> None:
        low, high = raw.get("min"), raw.get("max")
        if isinstance(low, int) and len(values) < low:
            report.errors.append(f"{where}: {len(values)} given, at least {low} required")
        if isinstance(high, str) and high != "*" and len(values) > int(high):
            report.errors.append(f"{where}: {len(values)} given, at most {high} allowed")
        rule = _fixed_or_pattern(raw)
        if rule is not None:
            for value in values:
                if not _value_ok(value, rule):
                    report.errors.append(f"{where}: {value!r} is not the {rule[0]} {rule[1]!r}")
        binding = raw.get("binding", {})
        if binding.get("strength") != "required" or not values:
            return
        members = self._required_members(raw)
        if members is None:
            report.unchecked.add(str(binding.get("valueSet")))
            return
        for value in values:
            if not _in_value_set(value, members):
                report.errors.append(
                    f"{where}: {_codes(value)} is not in the required {binding['valueSet']}"
                )


def _target_profiles(raw: Mapping[str, Any]) -> list[list[str]]:
    return [list(t["targetProfile"]) for t in raw.get("type", []) if t.get("targetProfile")]


def _check_choice_types(
    parent: Any, segment: str, raw: Mapping[str, Any], where: str, report: Report
) -> None:
    """``value[x]`` restricted to some types: every ``valueX`` key present is one of them."""
    choice = _CHOICE.match(segment)
    if not choice or not raw.get("type") or not isinstance(parent, dict):
        return
    allowed = {t["code"] for t in raw["type"]}
    base = choice["base"]
    for key in parent:
        suffix = key[len(base) :]
        if key.startswith(base) and suffix[:1].isupper():
            primitive = suffix[0].lower() + suffix[1:]
            if suffix not in allowed and primitive not in allowed:
                report.errors.append(f"{where}: {key} is not allowed (only {sorted(allowed)})")


def _references(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "reference" and isinstance(child, str):
                yield path, child
            else:
                yield from _references(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for child in value:
            yield from _references(child, path)


_UUID_URL = re.compile(
    r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def _satisfies(target: Mapping[str, Any], allowed: list[str]) -> bool:
    base = f"http://hl7.org/fhir/StructureDefinition/{target.get('resourceType')}"
    claims = set(target.get("meta", {}).get("profile", []))
    return any(a == base or a in claims for a in allowed)


def check_bundle(
    bundle: Mapping[str, Any],
    checker: ProfileChecker | None = None,
    external: Iterable[str] = (),
) -> Report:
    """Bundle-level checks, then every claimed profile of every entry.

    Every ``fullUrl`` is absolute (``urn:uuid:`` with a valid UUID, ``urn:oid:`` or http(s)); every
    reference resolves to an entry unless it is in ``external`` (e.g. a ``Patient/123`` the
    server already holds); a reference restricted to some profiles points at an entry that
    claims one of them.
    """
    report = Report()
    entries = bundle.get("entry", [])
    by_url = {e.get("fullUrl"): e.get("resource", {}) for e in entries}
    allowed_external = set(external)
    for index, entry in enumerate(entries):
        full_url = str(entry.get("fullUrl", ""))
        if full_url.startswith("urn:uuid:") and not _UUID_URL.match(full_url):
            report.errors.append(f"entry[{index}].fullUrl: {full_url} is not urn:uuid:<UUID>")
        elif not re.match(r"^(urn:uuid:|urn:oid:[0-9.]+$|https?://)", full_url):
            report.errors.append(f"entry[{index}].fullUrl: {full_url!r} is not an absolute URL")
        resource = entry.get("resource", {})
        for path, ref in _references(resource):
            if ref not in by_url and ref not in allowed_external:
                report.errors.append(f"entry[{index}].{path}: {ref} is not in the Bundle")
        if checker is None:
            continue
        for url, sub in checker.check_claims(resource).items():
            report.errors.extend(f"entry[{index}] {url}: {e}" for e in sub.errors)
            report.unchecked |= sub.unchecked
            for where, ref, allowed in sub.targets:
                target = by_url.get(ref)
                if target is not None and not _satisfies(target, allowed):
                    report.errors.append(f"entry[{index}] {where}: {ref} claims none of {allowed}")
    return report
