"""Duplicate JSON keys, checked cheaply for the fast path (:mod:`hub.ingest.fastpath`).

msgspec (like most JSON parsers) keeps the last of two equal keys in an object, so
``{"value": "36.6", "value": "1e20"}`` would reach the store as one of them while another
reader might take the other. The models refuse such messages (:mod:`schemas.validation`,
naming the key and its path); the fast path must never accept them.

The check decodes the message a second time into *presence* structs: the same field names
and nesting, every leaf kept as :class:`msgspec.Raw` (its bytes as sent, not parsed) and
left out again on encoding when it was absent. Encoding that back gives the message with
each key once. A JSON text's ``"`` bytes all belong to strings (keys and values, escaped
quotes included), and the re-encoded text keeps every value's bytes as sent and every key
once; so the two hold equally many ``"`` bytes exactly when no key occurred twice. A
dropped duplicate takes at least its key's two quotes with it. Anything unusual (an explicit
``null`` for an object, a key the wire structs do not know) makes the counts differ, and the
fast path declines: the models judge it. A compact message (as Hjem and most encoders send)
comes back byte for byte as long, which settles it without counting. Cost: about 1 µs per
observation (the fast path's whole check was 2.7 µs per observation at 100 per message).
"""

from __future__ import annotations

import msgspec
from msgspec import Raw, Struct

__all__ = ["has_no_duplicate_keys"]

_ABSENT = Raw()


class _Presence(Struct, omit_defaults=True, gc=False):
    pass


class _Coding(_Presence):
    system: Raw = _ABSENT
    code: Raw = _ABSENT
    display: Raw = _ABSENT


class _Device(_Presence):
    id: Raw = _ABSENT
    address: Raw = _ABSENT
    system_id: Raw = _ABSENT
    serial: Raw = _ABSENT
    manufacturer: Raw = _ABSENT
    model: Raw = _ABSENT
    firmware: Raw = _ABSENT


class _Source(_Presence):
    publisher: Raw = _ABSENT
    device: _Device | None = None
    gateway: Raw = _ABSENT


class _RawData(_Presence):
    format: Raw = _ABSENT
    data: Raw = _ABSENT


class _Component(_Presence):
    code: list[_Coding] | None = None
    value: Raw = _ABSENT
    unit: Raw = _ABSENT
    data_absent_reason: Raw = _ABSENT


class _Observation(_Presence):
    id: Raw = _ABSENT
    source: _Source | None = None
    code: list[_Coding] | None = None
    effective: Raw = _ABSENT
    device_time: Raw = _ABSENT
    clock_corrected: Raw = _ABSENT
    sequence: Raw = _ABSENT
    value: Raw = _ABSENT
    unit: Raw = _ABSENT
    value_boolean: Raw = _ABSENT
    value_code: Raw = _ABSENT
    components: list[_Component] | None = None
    data_absent_reason: Raw = _ABSENT
    body_site: Raw = _ABSENT
    status: Raw = _ABSENT
    flags: Raw = _ABSENT  # a list of strings: no objects inside
    raw: _RawData | None = None
    demo: Raw = _ABSENT


class _Batch(_Presence, rename={"schema_": "schema"}):
    schema_: Raw = _ABSENT
    message_id: Raw = _ABSENT
    publisher: Raw = _ABSENT
    sent: Raw = _ABSENT
    observations: list[_Observation] | None = None


_DECODER = msgspec.json.Decoder(_Batch)
_ENCODER = msgspec.json.Encoder()


def has_no_duplicate_keys(payload: bytes) -> bool:
    """True if no object of this (fast-path-decodable) message repeats a key; False when a
    key repeats or the check cannot tell."""
    try:
        once = _ENCODER.encode(_DECODER.decode(payload))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    # The re-encoded text is never longer (compact, each key once, the values' bytes as sent):
    # equal lengths mean nothing was dropped. Otherwise (whitespace, escaped key names) the
    # quotes tell.
    return len(once) == len(payload) or once.count(b'"') == payload.count(b'"')
