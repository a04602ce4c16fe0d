"""The gateway configuration: one TOML file, validated, with environment overrides.

Environment variables ``HJEM_EDGE_<KEY>`` override the file; nested keys use ``__``
(``HJEM_EDGE_MQTT__PASSWORD``, ``HJEM_EDGE_OUTBOX__QUOTA_MB``). Wrong settings fail at start
with one :class:`~edge.errors.ConfigError` naming every key and its problem, and each TLS file
that is missing or unreadable (the loader: foundation/settings.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_settings import SettingsConfigDict

from edge.errors import ConfigError
from edge.kinds import GATT_KINDS, DeviceKind
from foundation.settings import BrokerSettings, FileSettings, SettingsError, load_file, validate

__all__ = [
    "GATT_KINDS",
    "DeviceConfig",
    "DeviceKind",
    "EdgeConfig",
    "GattConfig",
    "IncidentConfig",
    "MqttConfig",
    "OutboxConfig",
    "ScanConfig",
    "VirtualConfig",
    "WatchdogConfig",
    "load_config",
    "parse_config",
]

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")

GatewayId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(BrokerSettings):
    """The shared broker section (foundation/settings.py) and the publisher's tuning."""

    batch_max_observations: Annotated[int, Field(ge=1, le=1000)] = 200
    batch_linger_s: Annotated[float, Field(ge=0, le=60)] = 0.2
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 32
    reconnect_min_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class DeviceConfig(_Section):
    address: str
    kind: DeviceKind
    id: (
        Annotated[
            str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][\w.:\-]*$")
        ]
        | None
    ) = None
    bthome_key: str | None = Field(default=None, description="32 hex digits (AES-128 key)")
    connect: bool | None = Field(default=None, description="default: yes for GATT kinds")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        upper = value.upper()
        if not _ADDRESS.match(upper):
            raise ValueError(f"{value!r} is not a Bluetooth address like AA:BB:CC:DD:EE:FF")
        return upper

    @field_validator("bthome_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise ValueError("must be 32 hexadecimal digits (a 16-byte AES key)")
        return value.lower() if value else value

    @property
    def device_id(self) -> str:
        return self.id or "ble-" + self.address.replace(":", "").lower()

    @property
    def key_bytes(self) -> bytes | None:
        return bytes.fromhex(self.bthome_key) if self.bthome_key else None

    @property
    def wants_connection(self) -> bool:
        return self.connect if self.connect is not None else self.kind in GATT_KINDS


class ScanConfig(_Section):
    mode: Literal["passive", "active"] = "passive"
    adapters: Annotated[list[str], Field(min_length=1, max_length=8)] = ["hci0"]
    queue_size: Annotated[int, Field(ge=16, le=1_000_000)] = 4096
    accept_unlisted: bool = False

    @field_validator("adapters")
    @classmethod
    def _adapters(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"hci[0-9]{1,2}", name):
                raise ValueError(f"{name!r} is not an adapter name like hci0")
        if len(set(value)) != len(value):
            raise ValueError("an adapter is listed twice")
        return value


class OutboxConfig(_Section):
    path: Path = Path("/var/lib/hjem-edge/outbox.sqlite")
    quota_mb: Annotated[float, Field(gt=0, le=1_000_000)] = 256.0
    synchronous: Literal["normal", "full"] = "normal"

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_mb * 1024 * 1024)


class WatchdogConfig(_Section):
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 90.0
    check_interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0


class GattConfig(_Section):
    max_connections: Annotated[int, Field(ge=1, le=32)] = 3
    reconnect_min_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    reconnect_max_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    set_clock: bool = True
    idle_disconnect_s: Annotated[float, Field(gt=0, le=86_400)] = 10.0
    """Disconnect after this long without a value, to free the slot for other devices."""


class IncidentConfig(_Section):
    kind: Literal["fever", "low_spo2", "fall", "inactivity"]
    at_s: Annotated[float, Field(ge=0)] = 60.0
    """Seconds after the start of the agent."""
    duration_s: Annotated[float, Field(gt=0)] = 1800.0


class VirtualConfig(_Section):
    """The in-process virtual radio (``radio = "virtual"``), for tests, demos and benchmarks."""

    seed: int = 1
    advert_interval_s: Annotated[float, Field(ge=0.02, le=60)] = 1.0
    measurement_interval_s: Annotated[float, Field(ge=0.05, le=3600)] = 5.0
    incidents: list[IncidentConfig] = []
    garbage_every: Annotated[int, Field(ge=0)] = 0
    """Every n-th advert of a virtual BTHome device carries garbage bytes (0: never)."""


class EdgeConfig(FileSettings):
    """The whole gateway configuration."""

    model_config = SettingsConfigDict(env_prefix="HJEM_EDGE_")

    gateway_id: GatewayId
    radio: Literal["bluez", "virtual"] = "bluez"
    mqtt: MqttConfig = MqttConfig()
    devices: Annotated[list[DeviceConfig], Field(default_factory=list, max_length=512)]
    scan: ScanConfig = ScanConfig()
    outbox: OutboxConfig = OutboxConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    gatt: GattConfig = GattConfig()
    virtual: VirtualConfig = VirtualConfig()
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    device_timezone: str = "Europe/Copenhagen"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    """text: for people (journalctl); json: one object a line, for a log shipper."""

    @field_validator("gateway_id")
    @classmethod
    def _not_hub(cls, value: str) -> str:
        if value == "hub":
            raise ValueError("'hub' is reserved for the hub's own topics")
        return value

    @field_validator("device_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Europe/Copenhagen") from None
        return value

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, value: list[DeviceConfig]) -> list[DeviceConfig]:
        seen: set[str] = set()
        for device in value:
            if device.address in seen:
                raise ValueError(f"device {device.address} is listed twice")
            seen.add(device.address)
        return value

    @property
    def mqtt_username(self) -> str:
        return self.mqtt.username or self.gateway_id


def parse_config(data: dict[str, Any], source: str = "") -> EdgeConfig:
    """Validate a parsed configuration; raise ConfigError listing every problem."""
    try:
        return validate(EdgeConfig, data, source)
    except SettingsError as exc:
        raise ConfigError.of(exc) from exc


def load_config(path: Path) -> EdgeConfig:
    """Read and validate the TOML file at ``path`` (environment variables override it)."""
    try:
        return load_file(EdgeConfig, path)
    except SettingsError as exc:
        raise ConfigError.of(exc) from exc
