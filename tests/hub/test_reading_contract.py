"""The hub's reading structs match the schema models field by field (issue 16).

:class:`hub.reading.Reading` (what ingest, stores and alerts see) and
:class:`schemas.models.Observation` (the contract) are compared through the JSON Schema each
library writes of its type: the same fields, the same types, the same optional fields, the same
bounds and patterns, and the same defaults. A field added to one and not the other, or a bound
changed in one only, fails here. Patterns that the fast path checks in code (cached per value)
are taken from :data:`hub.reading.CHECKED_BY_FAST_PATH`; where it checks a stricter pattern than
the models (declining what it cannot vouch for), :data:`STRICTER` says so.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from hub.ingest import fastpath
from hub.reading import (
    CHECKED_BY_FAST_PATH,
    Reading,
    ReadingCoding,
    ReadingComponent,
    ReadingDevice,
    ReadingRaw,
    ReadingSource,
)
from schemas import bounds
from schemas.models import Batch, Coding, Component, DeviceInfo, Observation, RawData, Source

PAIRS: list[tuple[type[BaseModel], type[msgspec.Struct]]] = [
    (Observation, Reading),
    (Source, ReadingSource),
    (DeviceInfo, ReadingDevice),
    (Coding, ReadingCoding),
    (Component, ReadingComponent),
    (RawData, ReadingRaw),
    (Batch, fastpath._WireBatch),
]
STRICTER = {bounds.model_pattern(bounds.CODE): bounds.model_pattern(bounds.UCUM_UNIT)}
"""Model pattern -> the stricter one the fast path checks instead (code systems and codes:
printable ASCII rather than any non-space text)."""
ENVELOPE_CHECKED = {
    "_WireBatch.message_id": bounds.IDENTIFIER,
    "_WireBatch.publisher": bounds.PUBLISHER,
}
"""The envelope's strings the fast path checks in code (:func:`hub.ingest.fastpath.accept`)."""
_IGNORED = {"title", "description", "default", "examples"}

Schema = dict[str, Any]


def _model_schema(model: type[BaseModel]) -> tuple[Schema, Schema]:
    document = model.model_json_schema(by_alias=True, mode="validation")
    return document, document.get("$defs", {})


def _struct_schema(struct: type[msgspec.Struct]) -> tuple[Schema, Schema]:
    (ref,), defs = msgspec.json.schema_components([struct])
    return ref, defs


def _deref(node: Schema, defs: Schema) -> Schema:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[1]]
    return node


def _leaf(node: Schema) -> Schema:
    out = {k: v for k, v in node.items() if k not in _IGNORED}
    if "const" in out:  # pydantic's one-value Literal; msgspec writes an enum of one
        return {"enum": [out["const"]]}
    if "enum" in out:
        return {"enum": sorted(out["enum"])}
    return out


def _struct_leaf(node: Schema, model: Schema, checked: str | None) -> Schema:
    out = _leaf(node)
    if "pattern" in out:
        out["pattern"] = out["pattern"].removesuffix("\\Z") + "$"
    elif checked is not None and "pattern" in model:
        out["pattern"] = bounds.model_pattern(checked)
    if "pattern" in model and STRICTER.get(model["pattern"]) == out.get("pattern"):
        out["pattern"] = model["pattern"]
    return out


def _object(model: Schema, struct: Schema, where: str, walk: Any, problems: list[str]) -> None:
    names, theirs = set(model["properties"]), set(struct["properties"])
    if names != theirs:
        problems.append(
            f"{where}: only in the model {sorted(names - theirs)}, only in the"
            f" struct {sorted(theirs - names)}"
        )
    if set(model.get("required", [])) != set(struct.get("required", [])):
        problems.append(f"{where}: required {model.get('required')} vs {struct.get('required')}")
    if model.get("additionalProperties") != struct.get("additionalProperties"):
        problems.append(f"{where}: unknown fields allowed in one only")
    owner = struct.get("title", "")
    for name in sorted(names & theirs):
        walk(
            model["properties"][name],
            struct["properties"][name],
            f"{where}.{name}",
            f"{owner}.{name}",
        )


def compare(model_type: type[BaseModel], struct_type: type[msgspec.Struct]) -> list[str]:
    """Every structural difference between a model and a struct (empty when they match)."""
    return compare_schemas(_model_schema(model_type), _struct_schema(struct_type))


def compare_schemas(
    model_doc: tuple[Schema, Schema], struct_doc: tuple[Schema, Schema]
) -> list[str]:
    (model_root, mdefs), (struct_root, sdefs) = model_doc, struct_doc
    checked = CHECKED_BY_FAST_PATH | ENVELOPE_CHECKED
    problems: list[str] = []

    def walk(model: Schema, struct: Schema, where: str, key: str | None) -> None:
        model, struct = _deref(model, mdefs), _deref(struct, sdefs)
        if "anyOf" in model or "anyOf" in struct:
            options, theirs = model.get("anyOf", [model]), struct.get("anyOf", [struct])
            if len(options) != len(theirs):
                problems.append(f"{where}: optional (or a union) in one only")
                return
            for one, other in zip(options, theirs, strict=True):
                walk(one, other, where, key)
            return
        kind = model.get("type")
        either = {"enum", "const"}
        if kind != struct.get("type") and not (either & set(model) and either & set(struct)):
            problems.append(f"{where}: type {kind} vs {struct.get('type')}")
        elif kind == "object" and "properties" in model:
            _object(model, struct, where, walk, problems)
        elif kind == "array":
            problems.extend(
                f"{where}: {bound} {model.get(bound)} vs {struct.get(bound)}"
                for bound in ("minItems", "maxItems")
                if model.get(bound) != struct.get(bound)
            )
            walk(model["items"], struct["items"], f"{where}[]", key)
        else:
            mine = _leaf(model)
            theirs = _struct_leaf(struct, mine, checked.get(key or ""))
            if mine != theirs:
                problems.append(f"{where}: {mine} vs {theirs}")

    walk(model_root, struct_root, "$", None)
    return problems


def _defaults(model_type: type[BaseModel], struct_type: type[msgspec.Struct]) -> list[str]:
    problems = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct_type)}
    for name, info in model_type.model_fields.items():
        field = fields.get(info.alias or name)
        if field is None or info.is_required():
            continue
        mine = info.get_default(call_default_factory=True)
        if field.default is not msgspec.NODEFAULT:
            theirs = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            theirs = field.default_factory()
        else:
            theirs = "(required)"
        if mine != theirs:
            problems.append(f"{model_type.__name__}.{name}: default {mine!r} vs {theirs!r}")
    return problems


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda t: t.__name__)
def test_the_struct_matches_the_model(model: type[BaseModel], struct: type[msgspec.Struct]) -> None:
    assert compare(model, struct) == []
    assert _defaults(model, struct) == []


def test_a_field_in_one_only_fails() -> None:
    class Longer(Reading):
        note: str | None = None

    assert any("only in the struct ['note']" in p for p in compare(Observation, Longer))


def test_a_changed_bound_or_pattern_or_optionality_fails() -> None:
    model_doc = _model_schema(Observation)
    struct_ref, struct_defs = _struct_schema(Reading)
    for path, change in [
        (
            ("ReadingDevice", "serial"),
            {"anyOf": [{"type": "string", "maxLength": 129}, {"type": "null"}]},
        ),
        (("ReadingRaw", "data"), {"type": "string", "maxLength": 2048, "pattern": "^[0-9a-f]*\\Z"}),
        (("Reading", "value_boolean"), {"type": "boolean"}),
        (("Reading", "flags"), {"type": "array", "items": {"type": "string"}, "maxItems": 32}),
    ]:
        changed = copy.deepcopy(struct_defs)
        changed[path[0]]["properties"][path[1]] = change
        assert compare_schemas(model_doc, (struct_ref, changed)) != [], path


def test_a_different_default_fails() -> None:
    class Provisional(Reading):
        status: str = "preliminary"  # type: ignore[assignment]

    assert _defaults(Observation, Provisional) == [
        "Observation.status: default <ObservationStatus.FINAL: 'final'> vs 'preliminary'"
    ]


def test_the_fast_path_checks_the_shared_patterns() -> None:
    """The cached checks use the patterns of :mod:`schemas.bounds` that the table names."""
    used = {
        fastpath._IDENTS._match.__self__.pattern,  # type: ignore[attr-defined]
        fastpath._PUBLISHERS._match.__self__.pattern,  # type: ignore[attr-defined]
        fastpath._TOKENS._match.__self__.pattern,  # type: ignore[attr-defined]
        fastpath._DECIMALS._match.__self__.pattern,  # type: ignore[attr-defined]
    }
    assert set(CHECKED_BY_FAST_PATH.values()) | set(ENVELOPE_CHECKED.values()) == used
    for key in CHECKED_BY_FAST_PATH:
        owner, _, name = key.partition(".")
        struct = {s.__name__: s for _, s in PAIRS}[owner]
        assert name in struct.__struct_fields__, key
