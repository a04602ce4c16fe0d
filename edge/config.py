"""The gateway configuration: one TOML file, validated, with environment overrides.

Environment variables ``HJEM_EDGE_<KEY>`` override the file; nested keys use ``__``
(``HJEM_EDGE_MQTT__PASSWORD``, ``HJEM_EDGE_OUTBOX__QUOTA_MB``). A wrong setting fails at
start with :class:`~edge.errors.ConfigError` naming the key and the problem.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge.errors import ConfigError
from edge.kinds import GATT_KINDS, DeviceKind
from foundation.mqtturl import broker_host, broker_port, is_tls_url

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


class MqttConfig(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    batch_max_observations: Annotated[int, Field(ge=1, le=1000)] = 200
    batch_linger_s: Annotated[float, Field(ge=0, le=60)] = 0.2
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 32
    reconnect_min_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        for name in ("ca_file", "cert_file", "key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} does not exist or is not a file")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    @property
    def host(self) -> str:
        return broker_host(self.url)

    @property
    def port(self) -> int:
        return broker_port(self.url)

    @property
    def tls(self) -> bool:
        return is_tls_url(self.url) or self.ca_file is not None


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


class EdgeConfig(BaseSettings):
    """The whole gateway configuration."""

    model_config = SettingsConfigDict(
        env_prefix="HJEM_EDGE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    gateway_id: GatewayId
    radio: Literal["bluez", "virtual"] = "bluez"
    mqtt: MqttConfig = MqttConfig()
    devices: Annotated[list[DeviceConfig], Field(max_length=512)] = []
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (which arrives as init arguments).
        return env_settings, init_settings


def _key_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def parse_config(data: dict[str, Any], source: str = "") -> EdgeConfig:
    """Validate a parsed configuration; raise ConfigError naming the first wrong key."""
    try:
        return EdgeConfig(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = str(first["msg"]).removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(_key_of(tuple(first["loc"])), problem, source) from exc


def load_config(path: Path) -> EdgeConfig:
    """Read and validate the TOML file at ``path`` (environment variables override it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror or exc}", str(path)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", f"not valid TOML: {exc}", str(path)) from exc
    return parse_config(data, str(path))
