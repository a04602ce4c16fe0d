"""Judging in the MQTT relay: the fast path's verdict, carried to the hub in msgpack.

The relay process (:mod:`hub.mqtt.relay`) runs on a core of its own while the hub commits.
For a message on an ``obs`` topic it runs the fast path (:func:`hub.ingest.fastpath.accept`, about
10 µs per observation) and, when the whole message is valid, sends the decoded observations
along with the payload as a :func:`verdict`: msgspec msgpack of the same structs and of the
payload as the store keeps it (deflated, :mod:`hub.ingest.payloads`), which the hub turns back into
an :class:`~hub.ingest.fastpath.Accepted` with :func:`restore` (about 2.5 µs per observation, the
structs' length and value constraints checked again on decoding).

A message without a verdict (the relay declined, or it was not asked to judge) is judged by
the hub as before, and a verdict that does not decode, or names another publisher than the
topic, is ignored: the hub judges that payload itself. The models stay the one authority for
every refusal. Both ends run this code, in processes of one hub; the verdict is an
optimisation of where the work is done, never a second source of truth.
"""

from __future__ import annotations

import functools
from datetime import datetime

import msgspec
from msgspec import Struct

from hub.ingest.fastpath import Accepted, accept
from hub.ingest.payloads import Encoding, stored_form
from hub.reading import Reading
from schemas.topics import ParsedTopic, TopicError, parse_topic

__all__ = ["RELAY_JUDGE", "restore", "verdict"]

RELAY_JUDGE = "hub.ingest.verdicts:verdict"
"""The judge the hub hands its MQTT relay (``RelayConfig.judge``): :func:`verdict`."""


class _Verdict(Struct, array_like=True, forbid_unknown_fields=True, gc=False):
    message_id: str
    publisher: str
    observations: list[Reading]
    stored: bytes
    encoding: Encoding | None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Verdict)
_parse_topic = functools.lru_cache(maxsize=10_000)(parse_topic)  # a few per publisher


def _obs_topic(topic: str) -> ParsedTopic | None:
    try:
        parsed = _parse_topic(topic)
    except TopicError:
        return None  # invalid topics are not remembered
    return parsed if parsed.kind == "obs" else None


def verdict(topic: str, payload: bytes, *, now: datetime) -> bytes | None:
    """The fast path's verdict on a wholly valid observation message, else None (pure)."""
    parsed = _obs_topic(topic)
    if parsed is None:
        return None
    accepted = accept(payload, now=now, expected_publisher=parsed.publisher)
    if accepted is None:
        return None
    stored, encoding = stored_form(payload)
    return _ENCODER.encode(
        _Verdict(accepted.message_id, accepted.publisher, accepted.observations, stored, encoding)
    )


def restore(blob: bytes, *, publisher: str) -> Accepted | None:
    """The accepted message of a verdict; None if it does not decode or names another sender."""
    try:
        decoded = _DECODER.decode(blob)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if decoded.publisher != publisher:
        return None
    if any(obs.source.publisher != publisher for obs in decoded.observations):
        return None
    stored = (decoded.stored, decoded.encoding)
    return Accepted(decoded.message_id, decoded.publisher, decoded.observations, stored)
