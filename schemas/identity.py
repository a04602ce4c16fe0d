"""Stable observation ids for deduplication.

Following the PHD IG's dedup identifier (device-patient-type-timestamp-duration-supplemental),
but without the patient (the edge never knows who the resident is): the id is derived from
the device id, the primary code, and the device's own timestamp or sequence number. The same
reading received twice (a repeated advertisement, an MQTT redelivery, a re-read glucose
record) gets the same id, so the hub stores it once.
"""

from __future__ import annotations

import hashlib

__all__ = ["observation_id"]


def observation_id(device_id: str, system: str, code: str, instant: str, extra: str = "") -> str:
    """Return a 32-character id (hex of 128 bits of SHA-256) from device, type and instant.

    ``instant`` is the device's timestamp (as sent, or as corrected when the device sent none)
    or its sequence number; ``extra`` distinguishes readings of the same type at one instant
    (e.g. the index of an RR interval).
    """
    key = "\x1f".join((device_id, system, code, instant, extra)).encode()
    return hashlib.sha256(key).hexdigest()[:32]
