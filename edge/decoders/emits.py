"""Which measures the decoders emit, keyed like the decoder tables of :mod:`.registry`.

BTHome's share comes from its object table (every object that becomes an observation), the
Glucose Measurement's from its glucose-type table; the other rows name what each decoder
passes to ``emit.observation``. ``tests/edge/decoders/test_emits.py`` decodes every recorded
vector and checks each row against what its decoder really emitted, both ways.

Used by ``hjem alerts check`` to warn about a rule on a measure that nothing here emits. Pure
tables: importing them needs neither BLE nor cryptography (the hub installs neither).
"""

from __future__ import annotations

from edge.decoders.bthome_objects import OBJECTS, Kind
from edge.decoders.gatt_glucose import GLUCOSE_TYPES

__all__ = [
    "GATT_MEASURES",
    "MANUFACTURER_MEASURES",
    "SERVICE_DATA_MEASURES",
    "emitted_measures",
]

_BTHOME = frozenset(spec.key for spec in OBJECTS.values() if not spec.silent) | (
    {"dimmer_steps"} if any(spec.kind is Kind.DIMMER for spec in OBJECTS.values()) else set()
)

GATT_MEASURES: dict[int, frozenset[str]] = {
    0x2A37: frozenset({"heart_rate", "energy_expended", "rr_interval"}),
    0x2A1C: frozenset({"body_temperature"}),
    0x2A35: frozenset({"blood_pressure", "pulse_rate_bp"}),
    0x2A9D: frozenset({"body_weight", "body_height", "bmi"}),
    0x2A5E: frozenset({"spo2", "pulse_rate_oximeter", "perfusion_index"}),
    0x2A5F: frozenset(
        {"spo2", "spo2_fast", "spo2_slow", "perfusion_index"}
        | {"pulse_rate_oximeter", "pulse_rate_oximeter_fast", "pulse_rate_oximeter_slow"}
    ),
    0x2A18: frozenset(GLUCOSE_TYPES.values()) | {"glucose_undetermined"},
    0x2AA7: frozenset({"glucose_interstitial", "glucose_trend", "cgm_quality"}),
    0x2A6E: frozenset({"room_temperature"}),
    0x2A6F: frozenset({"relative_humidity"}),
    0x2A6D: frozenset({"air_pressure"}),
    0x2A19: frozenset({"battery"}),  # Battery Level (gatt_vitals.battery_level)
}
"""GATT characteristic -> the measures its decoder emits."""

SERVICE_DATA_MEASURES: dict[int, frozenset[str]] = {
    0xFCD2: _BTHOME,
    0x181A: frozenset({"room_temperature", "relative_humidity", "battery", "voltage"}),
}
"""Service-data UUID -> the measures its decoder emits."""

MANUFACTURER_MEASURES: dict[int, frozenset[str]] = {
    0x0499: frozenset(
        {"room_temperature", "relative_humidity", "air_pressure", "voltage", "tx_power"}
        | {"acceleration_x", "acceleration_y", "acceleration_z", "movement_counter"}
    ),
}
"""Bluetooth SIG company identifier -> the measures its decoder emits."""


def emitted_measures() -> frozenset[str]:
    """Every measure key some edge decoder emits (compound measures, not their parts)."""
    out: set[str] = set()
    for table in (GATT_MEASURES, SERVICE_DATA_MEASURES, MANUFACTURER_MEASURES):
        for keys in table.values():
            out |= keys
    return frozenset(out)
