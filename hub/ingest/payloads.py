"""How the hub stores a message payload: deflated when large enough (pure).

Used by the SQLite store, and by the MQTT relay, which deflates the payloads it judges so
that the hub's core does not have to (:mod:`hub.ingest.verdicts`).
"""

from __future__ import annotations

import zlib
from typing import Final, Literal

__all__ = [
    "DEFLATE_MIN_BYTES",
    "PAYLOAD_ENCODING",
    "Encoding",
    "StoredPayload",
    "inflate",
    "stored_form",
]

Encoding = Literal["zlib"]
PAYLOAD_ENCODING: Final[Encoding] = "zlib"
"""The encoding of payloads of at least ``DEFLATE_MIN_BYTES`` (schema version 20)."""
DEFLATE_MIN_BYTES = 4096
"""Smaller payloads are stored as received: setting up zlib costs about 15 µs per call, as
much as a one-observation message's whole commit share, for a saving of a few hundred bytes."""
_ZLIB_LEVEL = 1  # the fastest; repetitive JSON still shrinks to about a thirteenth

StoredPayload = tuple[bytes, Encoding | None]
"""A payload as stored, and its encoding (None: as received)."""


def stored_form(payload: bytes) -> StoredPayload:
    """How a message payload is stored: deflated if large enough, and its encoding."""
    if len(payload) < DEFLATE_MIN_BYTES:
        return payload, None
    return zlib.compress(payload, _ZLIB_LEVEL), PAYLOAD_ENCODING


def inflate(stored: bytes, encoding: str | None) -> bytes:
    """A message payload as received, from its stored form; ValueError for an unknown one."""
    if encoding is None:
        return stored
    if encoding == PAYLOAD_ENCODING:
        return zlib.decompress(stored)
    raise ValueError(f"unknown message payload encoding {encoding!r}")
