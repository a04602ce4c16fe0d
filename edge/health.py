"""What the gateway knows about its own health, for the status messages (pure bookkeeping)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.models import AdapterHealth, DeviceHealth, Observation

__all__ = ["DeviceSeen", "HealthBook"]


@dataclass
class DeviceSeen:
    device_id: str
    last_seen: datetime | None = None
    rssi_dbm: int | None = None
    battery_percent: int | None = None
    decode_errors: int = 0
    last_error: str | None = None


@dataclass
class HealthBook:
    """Per-device last seen, RSSI, battery and decode errors; fed by the agent's tasks."""

    devices: dict[str, DeviceSeen] = field(default_factory=dict)

    def device(self, address: str, device_id: str) -> DeviceSeen:
        seen = self.devices.get(address)
        if seen is None:
            seen = self.devices[address] = DeviceSeen(device_id)
        return seen

    def saw(self, address: str, device_id: str, when: datetime, rssi: int | None) -> None:
        seen = self.device(address, device_id)
        seen.last_seen = when
        if rssi is not None and -127 <= rssi <= 20:
            seen.rssi_dbm = rssi

    def observed(self, address: str, device_id: str, observations: list[Observation]) -> None:
        seen = self.device(address, device_id)
        for obs in observations:
            if obs.value is not None and obs.unit == "%" and obs.code[0].code == "battery":
                seen.battery_percent = max(0, min(100, round(float(obs.value))))

    def device_health(self, connected: dict[str, bool]) -> list[DeviceHealth]:
        return [
            DeviceHealth(
                id=s.device_id,
                last_seen=s.last_seen,
                rssi_dbm=s.rssi_dbm,
                battery_percent=s.battery_percent,
                connected=connected.get(address),
            )
            for address, s in sorted(self.devices.items())
        ][:512]

    @staticmethod
    def adapter(
        name: str,
        state: Literal["scanning", "recovering", "down"],
        adverts_per_minute: float,
        recoveries: int,
    ) -> AdapterHealth:
        return AdapterHealth(
            name=name,
            state=state,
            adverts_per_minute=round(adverts_per_minute, 1),
            recoveries=recoveries,
        )
