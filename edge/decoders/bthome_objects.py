"""The BTHome v2 object table (https://bthome.io/format/), one row per object id.

Each row says how many bytes follow the id, how to read them and which Hjem measure and UCUM
unit the value becomes. Multipliers and decimal places give exact decimal strings:
temperature 0x02 is ``sint16 * 1 / 10**2`` Cel, so ``0x09CA`` -> ``"25.06"``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["BUTTON_EVENTS", "COMMAND_EVENTS", "DIMMER_EVENTS", "OBJECTS", "Kind", "ObjectSpec"]


class Kind(enum.Enum):
    QUANTITY = "quantity"
    BOOLEAN = "boolean"
    BUTTON = "button"
    DIMMER = "dimmer"
    COMMAND = "command"
    PACKET_ID = "packet-id"
    TEXT = "text"  # parsed and checked, no observation (the schema has no text value)
    RAW = "raw"  # parsed and checked, no observation
    DEVICE_TYPE = "device-type"
    FIRMWARE = "firmware"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    object_id: int
    key: str
    kind: Kind
    length: int | None  # None: a length byte follows the id
    signed: bool = False
    multiplier: int = 1
    places: int = 0
    unit: str | None = None
    silent: bool = field(init=False, default=False)
    """Parsed and checked, but no observation (packet id, text, raw, device information)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "silent", self.kind in _SILENT_KINDS)


_SILENT_KINDS = frozenset((Kind.PACKET_ID, Kind.TEXT, Kind.RAW, Kind.DEVICE_TYPE, Kind.FIRMWARE))


def _q(oid: int, key: str, length: int, unit: str, places: int = 0, **kw: int | bool) -> ObjectSpec:
    return ObjectSpec(oid, key, Kind.QUANTITY, length, places=places, unit=unit, **kw)  # type: ignore[arg-type]


def _b(oid: int, key: str) -> ObjectSpec:
    return ObjectSpec(oid, key, Kind.BOOLEAN, 1)


_ROWS: tuple[ObjectSpec, ...] = (
    ObjectSpec(0x00, "packet_id", Kind.PACKET_ID, 1),
    _q(0x01, "battery", 1, "%"),
    _q(0x02, "room_temperature", 2, "Cel", 2, signed=True),
    _q(0x03, "relative_humidity", 2, "%", 2),
    _q(0x04, "air_pressure", 3, "hPa", 2),
    _q(0x05, "illuminance", 3, "lx", 2),
    _q(0x06, "mass", 2, "kg", 2),
    _q(0x07, "mass", 2, "[lb_av]", 2),
    _q(0x08, "dew_point", 2, "Cel", 2, signed=True),
    _q(0x09, "count", 1, "1"),
    _q(0x0A, "energy", 3, "kW.h", 3),
    _q(0x0B, "power", 3, "W", 2),
    _q(0x0C, "voltage", 2, "V", 3),
    _q(0x0D, "pm2_5", 2, "ug/m3"),
    _q(0x0E, "pm10", 2, "ug/m3"),
    _b(0x0F, "generic_state"),
    _b(0x10, "power_on"),
    _b(0x11, "opening"),
    _q(0x12, "co2", 2, "[ppm]"),
    _q(0x13, "tvoc", 2, "ug/m3"),
    _q(0x14, "moisture", 2, "%", 2),
    _b(0x15, "battery_low"),
    _b(0x16, "battery_charging"),
    _b(0x17, "carbon_monoxide_detected"),
    _b(0x18, "cold"),
    _b(0x19, "connected"),
    _b(0x1A, "door_open"),
    _b(0x1B, "garage_door_open"),
    _b(0x1C, "gas_detected"),
    _b(0x1D, "hot"),
    _b(0x1E, "light_detected"),
    _b(0x1F, "unlocked"),
    _b(0x20, "wet"),
    _b(0x21, "motion"),
    _b(0x22, "moving"),
    _b(0x23, "occupancy"),
    _b(0x24, "plugged_in"),
    _b(0x25, "presence"),
    _b(0x26, "problem"),
    _b(0x27, "running"),
    _b(0x28, "unsafe"),
    _b(0x29, "smoke_detected"),
    _b(0x2A, "sound_detected"),
    _b(0x2B, "tamper"),
    _b(0x2C, "vibration"),
    _b(0x2D, "window_open"),
    _q(0x2E, "relative_humidity", 1, "%"),
    _q(0x2F, "moisture", 1, "%"),
    ObjectSpec(0x3A, "button", Kind.BUTTON, 1),
    ObjectSpec(0x3B, "command", Kind.COMMAND, None),
    ObjectSpec(0x3C, "dimmer", Kind.DIMMER, 2),
    _q(0x3D, "count", 2, "1"),
    _q(0x3E, "count", 4, "1"),
    _q(0x3F, "rotation", 2, "deg", 1, signed=True),
    _q(0x40, "distance", 2, "mm"),
    _q(0x41, "distance", 2, "m", 1),
    _q(0x42, "duration", 3, "s", 3),
    _q(0x43, "current", 2, "A", 3),
    _q(0x44, "speed", 2, "m/s", 2),
    _q(0x45, "room_temperature", 2, "Cel", 1, signed=True),
    _q(0x46, "uv_index", 1, "1", 1),
    _q(0x47, "volume", 2, "L", 1),
    _q(0x48, "volume", 2, "mL"),
    _q(0x49, "volume_flow_rate", 2, "m3/h", 3),
    _q(0x4A, "voltage", 2, "V", 1),
    _q(0x4B, "gas_volume", 3, "m3", 3),
    _q(0x4C, "gas_volume", 4, "m3", 3),
    _q(0x4D, "energy", 4, "kW.h", 3),
    _q(0x4E, "volume", 4, "L", 3),
    _q(0x4F, "water_volume", 4, "L", 3),
    _q(0x50, "device_timestamp", 4, "s"),
    _q(0x51, "acceleration", 2, "m/s2", 3),
    _q(0x52, "gyroscope", 2, "deg/s", 3),
    ObjectSpec(0x53, "text", Kind.TEXT, None),
    ObjectSpec(0x54, "raw", Kind.RAW, None),
    _q(0x55, "volume_storage", 4, "L", 3),
    _q(0x56, "conductivity", 2, "uS/cm"),
    _q(0x57, "room_temperature", 1, "Cel", signed=True),
    _q(0x58, "room_temperature", 1, "Cel", 2, signed=True, multiplier=35),
    _q(0x59, "count", 1, "1", signed=True),
    _q(0x5A, "count", 2, "1", signed=True),
    _q(0x5B, "count", 4, "1", signed=True),
    _q(0x5C, "power", 4, "W", 2, signed=True),
    _q(0x5D, "current", 2, "A", 3, signed=True),
    _q(0x5E, "direction", 2, "deg", 2),
    _q(0x5F, "precipitation", 2, "mm", 1),
    _q(0x60, "channel", 1, "1"),
    _q(0x61, "rotational_speed", 2, "/min"),
    _q(0x62, "speed", 4, "m/s", 6, signed=True),
    _q(0x63, "acceleration", 4, "m/s2", 6, signed=True),
    _q(0x64, "light_level", 1, "1"),
    _q(0x65, "settings_revision", 1, "1"),
    ObjectSpec(0xF0, "device_type", Kind.DEVICE_TYPE, 2),
    ObjectSpec(0xF1, "firmware", Kind.FIRMWARE, 4),
    ObjectSpec(0xF2, "firmware", Kind.FIRMWARE, 3),
)

OBJECTS: dict[int, ObjectSpec] = {row.object_id: row for row in _ROWS}

BUTTON_EVENTS: dict[int, str] = {
    0x00: "none",
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
    0x81: "hold_release",
}
DIMMER_EVENTS: dict[int, str] = {0x00: "none", 0x01: "rotate_left", 0x02: "rotate_right"}
COMMAND_EVENTS: dict[int, str] = {
    0x00: "off",
    0x01: "on",
    0x02: "toggle",
    0x03: "step_up",
    0x04: "step_down",
}
