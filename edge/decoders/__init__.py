"""Edge decoders: BLE health profiles and sensor advertisements -> open-schema observations.

Pure functions: bytes and a :class:`DecodeContext` (device, receive time, per-device state)
in, observations out, or a :class:`DecodeError` subclass that says what was wrong. No BLE, no
MQTT, no clock reads. See ``docs/decoders.md`` for formats, flags and test vectors.
"""

from __future__ import annotations

from edge.decoders.context import DecodeContext, DeviceState
from edge.decoders.errors import (
    CrcError,
    DecodeError,
    DecryptionError,
    InvalidRequestError,
    InvalidValueError,
    LengthError,
    ReplayError,
    ReservedFlagError,
    TooShortError,
    TrailingBytesError,
    UnknownFormatError,
)
from edge.decoders.flags import FLAGS
from edge.decoders.gatt_glucose import e2e_crc
from edge.decoders.ieee11073 import DeviceDateTime, float32, parse_datetime, sfloat
from edge.decoders.racp import (
    RacpFilter,
    RacpOpcode,
    RacpOperator,
    RacpResponse,
    RacpResponseCode,
    parse_racp,
    racp_request,
)
from edge.decoders.registry import (
    GATT_DECODERS,
    MANUFACTURER_DECODERS,
    SERVICE_DATA_DECODERS,
    decode_advertisement,
    decode_gatt,
    short_uuid,
)

__all__ = [
    "FLAGS",
    "GATT_DECODERS",
    "MANUFACTURER_DECODERS",
    "SERVICE_DATA_DECODERS",
    "CrcError",
    "DecodeContext",
    "DecodeError",
    "DecryptionError",
    "DeviceDateTime",
    "DeviceState",
    "InvalidRequestError",
    "InvalidValueError",
    "LengthError",
    "RacpFilter",
    "RacpOpcode",
    "RacpOperator",
    "RacpResponse",
    "RacpResponseCode",
    "ReplayError",
    "ReservedFlagError",
    "TooShortError",
    "TrailingBytesError",
    "UnknownFormatError",
    "decode_advertisement",
    "decode_gatt",
    "e2e_crc",
    "float32",
    "parse_datetime",
    "parse_racp",
    "racp_request",
    "sfloat",
    "short_uuid",
]
