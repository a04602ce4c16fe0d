"""The GATT Date Time (0x2A08) and Current Time (0x2A2B) values, encoded.

The one encoder among the decoders: the agent writes Current Time to set a device's clock
(:mod:`edge.gatt`), and the simulator's devices serve the same bytes. Pure: the time is given.
"""

from __future__ import annotations

import struct
from datetime import datetime

__all__ = ["current_time", "date_time"]


def date_time(when: datetime) -> bytes:
    """The 7-byte Date Time (0x2A08): local wall time, no offset."""
    return struct.pack(
        "<HBBBBB", when.year, when.month, when.day, when.hour, when.minute, when.second
    )


def current_time(when: datetime, adjust_reason: int = 0) -> bytes:
    """Current Time (0x2A2B): Date Time, day of week (1 = Monday), 1/256 s, adjust reason."""
    fractions = when.microsecond * 256 // 1_000_000
    return date_time(when) + bytes([when.isoweekday(), fractions, adjust_reason])
