"""Which decoder takes which bytes: tables keyed by characteristic, service UUID, company id."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edge.decoders.bthome import decode_bthome
from edge.decoders.context import DecodeContext
from edge.decoders.errors import LengthError, UnknownFormatError
from edge.decoders.gatt_glucose import cgm_measurement, glucose
from edge.decoders.gatt_plx import plx_continuous, plx_spot_check
from edge.decoders.gatt_vitals import (
    battery_level,
    blood_pressure,
    ess_humidity,
    ess_pressure,
    ess_temperature,
    heart_rate,
    temperature,
    weight,
)
from edge.decoders.sensors import decode_ruuvi, decode_xiaomi
from schemas.models import Observation

__all__ = [
    "GATT_DECODERS",
    "MANUFACTURER_DECODERS",
    "MAX_VALUE_BYTES",
    "SERVICE_DATA_DECODERS",
    "Decoder",
    "decode_advertisement",
    "decode_gatt",
    "short_uuid",
]

Decoder = Callable[[bytes, DecodeContext], list[Observation]]

MAX_VALUE_BYTES = 512
"""The longest attribute value (Bluetooth Core) and more than any advertisement holds."""

GATT_DECODERS: dict[int, Decoder] = {
    0x2A37: heart_rate,
    0x2A1C: temperature,
    0x2A35: blood_pressure,
    0x2A9D: weight,
    0x2A5E: plx_spot_check,
    0x2A5F: plx_continuous,
    0x2A18: glucose,
    0x2AA7: cgm_measurement,
    0x2A6E: ess_temperature,
    0x2A6F: ess_humidity,
    0x2A6D: ess_pressure,
    0x2A19: battery_level,
}
"""GATT characteristic UUID (16-bit) -> decoder. RACP 0x2A52 has its own parse_racp."""

SERVICE_DATA_DECODERS: dict[int, Decoder] = {
    0xFCD2: decode_bthome,
    0x181A: decode_xiaomi,
}
"""Service-data UUID (16-bit) -> decoder."""

MANUFACTURER_DECODERS: dict[int, Decoder] = {
    0x0499: decode_ruuvi,
}
"""Bluetooth SIG company identifier -> decoder (data without the 2-byte company id)."""

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


_SHORT_CACHE: dict[str, int | None] = {}


def short_uuid(uuid: str) -> int | None:
    """The 16-bit form of a SIG UUID (``"fcd2"``, ``"0xFCD2"`` or the full 128-bit string).

    None for a vendor's own 128-bit UUID or anything unreadable.
    """
    try:
        return _SHORT_CACHE[uuid]
    except KeyError:
        pass
    if len(_SHORT_CACHE) >= 4096:
        _SHORT_CACHE.clear()
    short = _parse_uuid(uuid)
    _SHORT_CACHE[uuid] = short
    return short


def _parse_uuid(uuid: str) -> int | None:
    text = uuid.strip().lower().removeprefix("0x")
    if len(text) == 36 and text.endswith(_BASE_SUFFIX) and text.startswith("0000"):
        text = text[4:8]
    if len(text) != 4:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _too_long(fmt: str, data: bytes) -> LengthError:
    return LengthError(fmt, f"{len(data)} bytes; at most {MAX_VALUE_BYTES} are accepted")


def decode_gatt(characteristic: int, data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Observations from one GATT characteristic value (a notification, indication or read)."""
    decoder = GATT_DECODERS.get(characteristic)
    fmt = f"gatt:{characteristic:04x}"
    if decoder is None:
        hint = "; use parse_racp for the RACP" if characteristic == 0x2A52 else ""
        raise UnknownFormatError(fmt, f"no decoder for characteristic 0x{characteristic:04X}{hint}")
    if len(data) > MAX_VALUE_BYTES:
        raise _too_long(fmt, data)
    return decoder(bytes(data), ctx)


def decode_advertisement(
    ctx: DecodeContext,
    *,
    service_data: Mapping[str, bytes] | None = None,
    manufacturer_data: Mapping[int, bytes] | None = None,
) -> list[Observation]:
    """Observations from one advertisement; ``[]`` when no decoder claims any of its data."""
    out: list[Observation] = []
    for uuid, data in (service_data or {}).items():
        short = short_uuid(uuid)
        decoder = SERVICE_DATA_DECODERS.get(short) if short is not None else None
        if decoder is not None:
            if len(data) > MAX_VALUE_BYTES:
                raise _too_long(f"adv:{short:04x}", data)
            out += decoder(data if type(data) is bytes else bytes(data), ctx)
    for company, data in (manufacturer_data or {}).items():
        decoder = MANUFACTURER_DECODERS.get(company)
        if decoder is not None:
            if len(data) > MAX_VALUE_BYTES:
                raise _too_long(f"adv:{company:04x}", data)
            out += decoder(data if type(data) is bytes else bytes(data), ctx)
    return out
