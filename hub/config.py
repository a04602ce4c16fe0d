"""Typed hub configuration: a TOML file, overridden by ``HJEM_HUB_...`` environment variables.

The file is read, and every problem reported at once, by the settings loader shared with the
edge (foundation/settings.py); ``[mqtt]`` is the broker section the edge has too.

Nested keys use ``__`` in the environment, e.g. ``HJEM_HUB_MQTT__URL=mqtt://broker:1883`` or
``HJEM_HUB_HTTP__PORT=8081``. Unknown keys are errors, reported with their dotted path.

Other hub components extend :class:`HubSettings` by adding a field with its own sub-model
(e.g. ``alerts: AlertSettings = AlertSettings()``); nothing else needs to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from foundation.settings import (
    BrokerSettings,
    FileSettings,
    SettingsError,
    TlsFiles,
    load_file,
    validate,
)
from hub.alerts.settings import AlertSettings
from hub.errors import ConfigError
from hub.fhir.push.settings import FhirPushSettings
from hub.status.settings import StatusSettings

__all__ = [
    "HttpSettings",
    "HubSettings",
    "InfluxSettings",
    "IngestSettings",
    "MqttSettings",
    "PostgresSettings",
    "RetentionSettings",
    "StoreSettings",
    "TlsSettings",
    "load_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TlsSettings = TlsFiles
"""The ``[mqtt.tls]`` table (foundation/settings.py)."""


class MqttSettings(BrokerSettings):
    """The shared broker section (foundation/settings.py) and the hub's subscription."""

    client_id: str = Field(default="hjem-hub", min_length=1, max_length=64)
    protocol: Literal["3.1.1", "5"] = "5"
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="MQTT 5 shared-subscription group; hub processes in one group split load.",
    )
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    relay_silence_s: float = Field(
        default=30,
        ge=0.5,
        le=3600,
        description="the MQTT relay process says it is alive every sixth of this; a hub that"
        " waits for data and hears nothing for this long stops the relay and fails",
    )

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        if self.shared_group and self.protocol != "5":
            raise ValueError('shared_group needs protocol = "5" (shared subscriptions)')
        return self

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


class PostgresSettings(_Section):
    """A PostgreSQL server (``store.kind = "postgresql"``); one pool per hub process.

    ``dsn`` is a libpq URL or ``key=value`` string, e.g. from the environment
    (``HJEM_HUB_STORE__POSTGRESQL__DSN``); it is a secret (never logged or shown). Its
    password may also come from libpq's own ``PGPASSWORD`` or ``~/.pgpass`` instead.
    """

    dsn: SecretStr = SecretStr("")
    pool_min: int = Field(default=1, ge=0, le=100, description="connections kept open")
    pool_max: int = Field(default=4, ge=1, le=100, description="connections at most")
    timeout_s: float = Field(
        default=10.0, gt=0, description="connecting, or waiting for a free pool connection"
    )

    @model_validator(mode="after")
    def _check(self) -> PostgresSettings:
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min must not exceed pool_max")
        return self


class StoreSettings(_Section):
    kind: Literal["sqlite", "influxdb", "postgresql"] = "sqlite"
    influx: InfluxSettings = InfluxSettings()
    postgresql: PostgresSettings = PostgresSettings()

    @model_validator(mode="after")
    def _check(self) -> StoreSettings:
        if self.kind == "postgresql" and not self.postgresql.dsn.get_secret_value():
            raise ValueError(
                'kind = "postgresql" needs postgresql.dsn (or HJEM_HUB_STORE__POSTGRESQL__DSN)'
            )
        return self


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


class HubSettings(FileSettings):
    """The whole hub configuration. Add a field here to give a component its own section."""

    model_config = SettingsConfigDict(env_prefix="HJEM_HUB_")
    relative_paths = (("database",), ("alerts", "rules_file"))

    database: Path = Path("hjem-hub.sqlite3")
    mqtt: MqttSettings = MqttSettings()
    http: HttpSettings = HttpSettings()
    store: StoreSettings = StoreSettings()
    retention: RetentionSettings = RetentionSettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertSettings = AlertSettings()
    status: StatusSettings = StatusSettings()
    fhir_push: FhirPushSettings = FhirPushSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: for people (journalctl); json: one object a line"
    )

    @model_validator(mode="after")
    def _backlog_can_be_reached(self) -> HubSettings:
        """The broker sends at most ``min(receive_maximum, queue_size)`` messages the hub has
        not acknowledged, so a backlog threshold at or above that could never be reported."""
        reachable = min(self.mqtt.receive_maximum, self.ingest.queue_size)
        if self.status.backlog_messages >= reachable:
            raise ValueError(
                f"status.backlog_messages ({self.status.backlog_messages}) can never be"
                f" exceeded: the broker sends at most {reachable} unacknowledged messages"
                " (the smaller of mqtt.receive_maximum and ingest.queue_size); set it lower"
            )
        return self


def load_settings(path: Path | None = None) -> HubSettings:
    """Read the TOML file (if given) under the environment, validate.

    Raises :class:`ConfigError` naming each wrong key and its problem. TLS files are not
    opened here (``hjem hub check-config`` does; the connection names one that fails).
    """
    try:
        if path is None:
            return validate(HubSettings, {}, "hub settings", check_files=False)
        return load_file(HubSettings, path, check_files=False)
    except SettingsError as exc:
        raise ConfigError(exc.source, exc.problems) from exc
