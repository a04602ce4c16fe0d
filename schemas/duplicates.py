"""Duplicate keys in a JSON message: found, with the JSON path of the object that repeats one.

JSON parsers differ on ``{"value": "36.6", "value": "1e20"}`` (most keep the last, some the
first, some refuse), so a message with a repeated key can mean different things to the hub
and to anyone else who reads it. Hjem refuses it: :func:`duplicate_keys` lists each repeat as
(path of the object, key), e.g. ``("$.observations[2]", "value")``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

__all__ = ["duplicate_keys", "repeated_keys"]

MAX_REPORTED = 20


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, repeats included."""


def _walk(node: Any, path: str, found: list[tuple[str, str]]) -> None:
    if len(found) >= MAX_REPORTED:
        return
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, value in node:
            if key in seen:
                found.append((path, key))
            seen.add(key)
            _walk(value, f"{path}.{key}", found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{path}[{index}]", found)


def duplicate_keys(payload: bytes | str) -> list[tuple[str, str]]:
    """(object path, key) for every repeated key; empty if none, or if it is not JSON at all
    (then the parser's own error is the one to report)."""
    try:
        data = json.loads(payload, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return []
    found: list[tuple[str, str]] = []
    with contextlib.suppress(RecursionError):  # deeper than Python walks: the models refuse it
        _walk(data, "$", found)
    return found


_REASON = (
    "key {key!r} occurs more than once in this object; give each key once"
    " (JSON readers disagree on which one counts)"
)


def repeated_keys(
    payload: bytes | str,
) -> tuple[list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
    """Repeated keys as rejection errors: (path, reason) pairs outside the observations (the
    envelope), and per observation index (path relative to the observation, reason)."""
    envelope: list[tuple[str, str]] = []
    per_observation: dict[int, list[tuple[str, str]]] = {}
    for path, key in duplicate_keys(payload):
        where, reason = f"{path}.{key}"[:256], _REASON.format(key=key)[:512]
        if not where.startswith("$.observations["):
            envelope.append((where, reason))
            continue
        index, _, rest = where.removeprefix("$.observations[").partition("]")
        per_observation.setdefault(int(index), []).append((rest.removeprefix("."), reason))
    return envelope, per_observation
