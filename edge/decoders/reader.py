"""A little-endian cursor over a value whose length was already checked against its flags."""

from __future__ import annotations

from edge.decoders.ieee11073 import DeviceDateTime, float32, parse_datetime, sfloat
from schemas.models import DataAbsentReason

__all__ = ["Reader"]


class Reader:
    """Reads fields in order; the caller checked the total length first (``check_length``)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def uint(self, size: int) -> int:
        start = self.pos
        self.pos += size
        return int.from_bytes(self.data[start : self.pos], "little")

    def sint(self, size: int) -> int:
        start = self.pos
        self.pos += size
        return int.from_bytes(self.data[start : self.pos], "little", signed=True)

    def u8(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        return self.uint(2)

    def sfloat(self) -> str | DataAbsentReason:
        return sfloat(self.uint(2))

    def float32(self) -> str | DataAbsentReason:
        return float32(self.uint(4))

    def datetime(self) -> DeviceDateTime:
        stamp = parse_datetime(self.data[self.pos : self.pos + 7])
        self.pos += 7
        return stamp
