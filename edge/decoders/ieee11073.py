"""IEEE 11073-20601 numbers (SFLOAT, FLOAT), fixed-point values and the GATT DateTime.

Numbers become decimal strings that keep the device's precision: SFLOAT ``0xE0C8`` is
``"2.00"``, not ``2.0``. The special values (NaN, NRes, +INF, -INF, reserved) become a
:class:`~schemas.models.DataAbsentReason`, never a number. A special value is recognised by
its mantissa alone, whatever the exponent, so a reserved mantissa can never turn into a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.decoders.errors import TooShortError
from schemas.models import DataAbsentReason

__all__ = [
    "DeviceDateTime",
    "decimal_string",
    "float32",
    "float32_parts",
    "parse_datetime",
    "scaled",
    "sfloat",
    "sfloat_parts",
]

_MAX_INT_DIGITS = 20  # the schema's DecimalString: at most 20 integer and 18 fraction digits
_MAX_FRACTION_DIGITS = 18

SFLOAT_SPECIAL: dict[int, DataAbsentReason] = {
    0x07FF: DataAbsentReason.NOT_A_NUMBER,
    0x0800: DataAbsentReason.ERROR,  # NRes: not at this resolution
    0x07FE: DataAbsentReason.POSITIVE_INFINITY,
    0x0802: DataAbsentReason.NEGATIVE_INFINITY,
    0x0801: DataAbsentReason.ERROR,  # reserved for future use
}
FLOAT_SPECIAL: dict[int, DataAbsentReason] = {
    0x007FFFFF: DataAbsentReason.NOT_A_NUMBER,
    0x00800000: DataAbsentReason.ERROR,
    0x007FFFFE: DataAbsentReason.POSITIVE_INFINITY,
    0x00800002: DataAbsentReason.NEGATIVE_INFINITY,
    0x00800001: DataAbsentReason.ERROR,
}


def decimal_string(mantissa: int, exponent: int) -> str | None:
    """``mantissa * 10**exponent`` written exactly, keeping ``-exponent`` fraction digits.

    Returns None when the schema's decimal string cannot hold it (over 20 integer or 18
    fraction digits).
    """
    sign = "-" if mantissa < 0 else ""
    digits = str(abs(mantissa))
    if exponent >= 0:
        text = "0" if mantissa == 0 else digits + "0" * exponent
        return None if len(text) > _MAX_INT_DIGITS else sign + text
    places = -exponent
    if places > _MAX_FRACTION_DIGITS:
        return None
    digits = digits.rjust(places + 1, "0")
    whole, fraction = digits[:-places], digits[-places:]
    if len(whole) > _MAX_INT_DIGITS:
        return None
    return f"{sign}{whole}.{fraction}"


def scaled(raw: int, multiplier: int, places: int) -> str:
    """A fixed-point value ``raw * multiplier / 10**places`` with ``places`` fraction digits."""
    if places == 0:
        return str(raw * multiplier)
    text = decimal_string(raw * multiplier, -places)
    if text is None:  # pragma: no cover - callers pass field widths that always fit
        raise ValueError(f"{raw} * {multiplier} / 10**{places} does not fit a decimal string")
    return text


def sfloat_parts(raw: int) -> tuple[int, int] | DataAbsentReason:
    """(mantissa, exponent) of a 16-bit SFLOAT, or the reason its value is absent."""
    raw &= 0xFFFF
    mantissa = raw & 0x0FFF
    special = SFLOAT_SPECIAL.get(mantissa)
    if special is not None:
        return special
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    return mantissa, exponent


def float32_parts(raw: int) -> tuple[int, int] | DataAbsentReason:
    """(mantissa, exponent) of a 32-bit FLOAT, or the reason its value is absent."""
    raw &= 0xFFFFFFFF
    mantissa = raw & 0x00FFFFFF
    special = FLOAT_SPECIAL.get(mantissa)
    if special is not None:
        return special
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    return mantissa, exponent


def _as_text(parts: tuple[int, int] | DataAbsentReason) -> str | DataAbsentReason:
    if isinstance(parts, DataAbsentReason):
        return parts
    text = decimal_string(*parts)
    return DataAbsentReason.UNSUPPORTED if text is None else text


def sfloat(raw: int) -> str | DataAbsentReason:
    """A 16-bit SFLOAT as a decimal string (``0xE0C8`` -> ``"2.00"``) or a data-absent reason."""
    return _as_text(sfloat_parts(raw))


def float32(raw: int) -> str | DataAbsentReason:
    """A 32-bit FLOAT as a decimal string or a data-absent reason.

    A finite FLOAT whose exponent puts it beyond the schema's 20 integer / 18 fraction digits
    gives :attr:`DataAbsentReason.UNSUPPORTED`.
    """
    return _as_text(float32_parts(raw))


@dataclass(frozen=True, slots=True)
class DeviceDateTime:
    """A GATT DateTime (7 bytes) exactly as the device sent it; 0 marks an unknown field."""

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int

    @property
    def text(self) -> str:
        """ISO 8601 without offset, unknown fields as 0: ``2026-11-28T10:15:00``."""
        return (
            f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
            f"T{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}"
        )

    @property
    def known(self) -> bool:
        """True when year, month and day are all given (time fields are never 'unknown')."""
        return self.year != 0 and self.month != 0 and self.day != 0

    def naive(self) -> datetime | None:
        """The wall-clock time, or None when a field is unknown or out of range."""
        if not self.known or not 1582 <= self.year <= 9999:
            return None
        try:
            return datetime(  # noqa: DTZ001 - a device's wall clock has no offset
                self.year, self.month, self.day, self.hours, self.minutes, self.seconds
            )
        except ValueError:
            return None


def parse_datetime(data: bytes) -> DeviceDateTime:
    """The 7-byte GATT DateTime at the start of ``data``."""
    if len(data) < 7:
        raise TooShortError("datetime", 7, len(data))
    return DeviceDateTime(
        int.from_bytes(data[0:2], "little"), data[2], data[3], data[4], data[5], data[6]
    )
