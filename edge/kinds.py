"""The device kinds: the one table that everything listing kinds derives from.

The gateway configuration's ``kind`` (:mod:`edge.config`), which devices the agent connects to
and which characteristics it subscribes to (:mod:`edge.gatt`), the simulator's devices
(:mod:`sim`) and the demo's homes (:mod:`hjem.demo_home`) all read :data:`KINDS`, so adding a
kind is one row here (plus, for the simulator, how the new device makes its values).
``tests/edge/test_kinds.py`` checks every consumer's set against this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

__all__ = ["BY_NAME", "GATT_KINDS", "KINDS", "DeviceKind", "KindSpec"]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind of device. Advertisement-only sensors have no GATT service."""

    name: str
    service: int | None = None
    """The GATT service (16-bit UUID) of a connectable health device."""
    measurement: int | None = None
    """Its measurement characteristic (16-bit UUID)."""
    indicate: bool = False
    """The measurement comes by indication (acknowledged) rather than notification."""
    also: tuple[int, ...] = ()
    """Further value characteristics of the service (the oximeter's continuous 0x2A5F)."""
    title_da: str = ""
    """What the demo calls a health device (Danish, the dashboard's default language)."""
    service_data: int | None = None
    """The 16-bit service-data UUID an advertising sensor's readings come under."""
    company: int | None = None
    """The company id of an advertising sensor's manufacturer-specific data."""

    @property
    def connects(self) -> bool:
        """A GATT health device: the agent connects to it by default."""
        return self.service is not None

    @property
    def advertises(self) -> bool:
        """An advertising sensor: its readings are in its advertisements."""
        return self.service_data is not None or self.company is not None


KINDS: tuple[KindSpec, ...] = (
    KindSpec("bthome", service_data=0xFCD2),
    KindSpec("ruuvi", company=0x0499),
    KindSpec("xiaomi", service_data=0x181A),  # ATC1441 / pvvx firmware, Environmental Sensing
    KindSpec("heart_rate", 0x180D, 0x2A37, title_da="Pulsmåler"),
    KindSpec("thermometer", 0x1809, 0x2A1C, indicate=True, title_da="Termometer"),
    KindSpec("blood_pressure", 0x1810, 0x2A35, indicate=True, title_da="Blodtryksmåler"),
    KindSpec("weight_scale", 0x181D, 0x2A9D, indicate=True, title_da="Personvægt"),
    KindSpec(
        "pulse_oximeter", 0x1822, 0x2A5E, indicate=True, also=(0x2A5F,), title_da="Pulsoximeter"
    ),
    KindSpec("glucose", 0x1808, 0x2A18, title_da="Blodsukkermåler"),
)

BY_NAME: dict[str, KindSpec] = {kind.name: kind for kind in KINDS}

GATT_KINDS: frozenset[str] = frozenset(kind.name for kind in KINDS if kind.connects)
"""The kinds the agent connects to by default."""

if TYPE_CHECKING:
    DeviceKind = str
else:  # the same Literal as writing the names out: pydantic's message and JSON Schema enum
    DeviceKind = Literal[tuple(kind.name for kind in KINDS)]
