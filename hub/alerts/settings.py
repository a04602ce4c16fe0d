"""Alert settings: the ``[alerts]`` section of the hub settings (pydantic only, import-light)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from foundation.settings import BrokerSettings

__all__ = ["AlertSettings"]


class AlertSettings(BaseModel):
    """The ``[alerts]`` section of the hub settings (``HJEM_HUB_ALERTS__...``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True,
        description="false: run without alert rules (said explicitly; a hub with alerts"
        " enabled and no enabled rule refuses to start)",
    )
    rules_file: Path | None = Field(
        default=None, description="TOML rules; relative to the hub's configuration file"
    )
    tick_seconds: float = Field(default=1.0, gt=0, le=60)
    mqtt: bool = Field(default=True, description="publish retained AlertEvents on MQTT")
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    retry_max_attempts: int = Field(default=20, ge=1)
    stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    session_hours: float = Field(default=12.0, gt=0, description="staff session lifetime")

    @model_validator(mode="after")
    def _secret_with_url(self) -> AlertSettings:
        if self.webhook_url and not (
            self.webhook_secret and self.webhook_secret.get_secret_value()
        ):
            raise ValueError("webhook_url needs webhook_secret (the HMAC key receivers verify)")
        return self

    def channels(self, mqtt: BrokerSettings | None) -> tuple[str, ...]:
        out: list[str] = []
        if self.mqtt and mqtt is not None:
            out.append("mqtt")
        if self.webhook_url:
            out.append("webhook")
        return tuple(out)
