"""Typed hub configuration: a TOML file, overridden by ``HJEM_HUB_...`` environment variables.

Nested keys use ``__`` in the environment, e.g. ``HJEM_HUB_MQTT__URL=mqtt://broker:1883`` or
``HJEM_HUB_HTTP__PORT=8081``. Unknown keys are errors, reported with their dotted path.

Other hub components extend :class:`HubSettings` by adding a field with its own sub-model
(e.g. ``alerts: AlertSettings = AlertSettings()``); nothing else needs to change.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from foundation.mqtturl import broker_host, broker_port, is_tls_url
from hub.alerts.settings import AlertSettings
from hub.errors import ConfigError
from hub.status.settings import StatusSettings

__all__ = [
    "HttpSettings",
    "HubSettings",
    "InfluxSettings",
    "IngestSettings",
    "MqttSettings",
    "RetentionSettings",
    "StoreSettings",
    "TlsSettings",
    "load_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsSettings(_Section):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class MqttSettings(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsSettings | None = None
    client_id: str = Field(default="hjem-hub", min_length=1, max_length=64)
    protocol: Literal["3.1.1", "5"] = "5"
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="MQTT 5 shared-subscription group; hub processes in one group split load.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    qos: Literal[1] = 1
    relay_silence_s: float = Field(
        default=30,
        ge=0.5,
        le=3600,
        description="the MQTT relay process says it is alive every sixth of this; a hub that"
        " waits for data and hears nothing for this long stops the relay and fails",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:  # a field check: reported with the section's others
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"url {url!r} must look like mqtt://host:1883 or mqtts://host")
        return url

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        if self.shared_group and self.protocol != "5":
            raise ValueError('shared_group needs protocol = "5" (shared subscriptions)')
        return self

    @property
    def host(self) -> str:
        return broker_host(self.url)

    @property
    def port(self) -> int:
        return broker_port(self.url)

    @property
    def uses_tls(self) -> bool:
        return is_tls_url(self.url) or self.tls is not None

    @property
    def alerts_username(self) -> str | None:
        """The login of the alert publisher, the hub's second MQTT connection.

        The shipped broker binds each client id to its login (use_username_as_clientid), so
        two connections under one login would close each other: ``<username>-alerts``, with
        the same password (``hjem admin broker-password`` writes both; hub/admin/provision.py).
        """
        return f"{self.username}-alerts" if self.username else None


class HttpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="largest request body the dashboard and APIs read (413 above it)",
    )
    forwarded_allow_ips: tuple[str, ...] = Field(
        default=(),
        description="reverse proxies (addresses or networks) whose X-Forwarded-For and"
        " X-Forwarded-Proto are believed; empty: none, the client is the TCP peer",
    )


class InfluxSettings(_Section):
    url: str = "http://127.0.0.1:8086"
    token: SecretStr = SecretStr("")
    org: str = "hjem"
    bucket: str = "hjem"
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    timeout_s: float = Field(default=10.0, gt=0)
    measurement: str = Field(default="hjem_obs", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreSettings(_Section):
    kind: Literal["sqlite", "influxdb"] = "sqlite"
    influx: InfluxSettings = InfluxSettings()


class RetentionSettings(_Section):
    raw_days: float = Field(default=400, gt=0, description="raw observations and samples")
    rollup_days: float = Field(default=3650, gt=0, description="5-min and 1-h roll-ups")
    dead_letter_days: float = Field(default=90, gt=0)
    interval_s: float = Field(default=3600, gt=0, description="how often retention runs")


class IngestSettings(_Section):
    max_batch_messages: int = Field(default=1000, ge=1, le=65535)
    max_batch_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, description="payload bytes per group commit (at least one)"
    )
    queue_size: int = Field(default=5000, ge=1)
    sqlite_synchronous: Literal["full", "normal"] = Field(
        default="full", description="full: a commit survives power loss, not only a crash"
    )
    gateway_timeout_s: float = Field(
        default=180, gt=0, description="no status or data for this long: gateway offline"
    )
    judge_in_relay_min_bytes: int | None = Field(
        default=4096,
        ge=0,
        description="MQTT messages of at least this size are validated in the relay process"
        " (another core), which sends the hub the decoded observations; smaller ones, and"
        " every message when None, are judged by the hub itself",
    )


class HubSettings(BaseSettings):
    """The whole hub configuration. Add a field here to give a component its own section."""

    model_config = SettingsConfigDict(
        env_prefix="HJEM_HUB_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database: Path = Path("hjem-hub.sqlite3")
    mqtt: MqttSettings = MqttSettings()
    http: HttpSettings = HttpSettings()
    store: StoreSettings = StoreSettings()
    retention: RetentionSettings = RetentionSettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertSettings = AlertSettings()
    status: StatusSettings = StatusSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: for people (journalctl); json: one object a line"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del settings_cls, dotenv_settings, file_secret_settings
        # The environment overrides the file (whose values arrive as init arguments).
        return env_settings, init_settings


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_settings(path: Path | None = None, **overrides: Any) -> HubSettings:
    """Read the TOML file (if given), apply ``overrides`` and the environment, validate.

    Raises :class:`ConfigError` naming each wrong key and its problem.
    """
    source = str(path) if path else "hub settings"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(source, [("(file)", f"cannot read: {exc.strerror}")]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [("(syntax)", str(exc))]) from exc
        if isinstance(data.get("database"), str) and not Path(data["database"]).is_absolute():
            data["database"] = str(path.parent / data["database"])
        alerts = data.get("alerts")
        rules = alerts.get("rules_file") if isinstance(alerts, dict) else None
        if isinstance(rules, str) and not Path(rules).is_absolute():  # relative to this file
            data["alerts"]["rules_file"] = str(path.parent / rules)
    data.update(overrides)
    try:
        return HubSettings(**data)
    except ValidationError as exc:
        problems = [
            (_dotted(err["loc"]), str(err["msg"]).removeprefix("Value error, "))
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigError(source, problems) from exc
