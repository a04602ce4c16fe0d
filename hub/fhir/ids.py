"""FHIR ids for Hjem's device ids.

A FHIR id is 1-64 of ``A-Z a-z 0-9 - .``; a Hjem device id may also hold ``:`` and ``_`` and
be up to 128 characters long (``schemas.bounds.IDENTIFIER``). A device id that is a valid
FHIR id is its own FHIR id; any other gets a stable one made from its SHA-256 (``h-`` and 40
hex digits), the same on every request and every hub. ``Device/{id}`` resolves both: the
hashed form by finding the registered device whose id hashes to it. The device's own id is
always in the resource too (identifier ``urn:hjem:device``).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from hub.db import Connection
from hub.registry.figures import device_rows

__all__ = ["HASHED_PREFIX", "device_fhir_id", "device_of_fhir_id", "is_fhir_id"]

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
HASHED_PREFIX = "h-"


def is_fhir_id(text: str) -> bool:
    return _FHIR_ID.fullmatch(text) is not None


@lru_cache(maxsize=4096)
def device_fhir_id(device_id: str) -> str:
    """The device's FHIR id: itself when valid, else ``h-`` + 40 hex digits of its SHA-256."""
    if is_fhir_id(device_id):
        return device_id
    return HASHED_PREFIX + hashlib.sha256(device_id.encode()).hexdigest()[:40]


def device_of_fhir_id(conn: Connection, fhir_id: str) -> str | None:
    """The device id a FHIR id names: the id itself when it is its own FHIR id, else the
    registered device whose id hashes to it (None: no such device)."""
    if not is_fhir_id(fhir_id):
        return None
    if not fhir_id.startswith(HASHED_PREFIX):
        return fhir_id
    found = [str(row[0]) for row in device_rows(conn) if device_fhir_id(str(row[0])) == fhir_id]
    return found[0] if found else fhir_id
