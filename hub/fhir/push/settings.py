"""Settings of the FHIR push exporter: one ``[[fhir_push.recipients]]`` table per recipient.

A recipient is a FHIR server another care actor runs (a hospital, a general practice, another
municipality): which organisation it is (the recipient organisation consents name), where it
is (``base_url``), why it receives (``purpose``, a v3 ActReason code a consent must name) and
how the hub authenticates there::

    [[fhir_push.recipients]]
    name = "rigshospitalet"
    organisation = "org-rh"
    base_url = "https://fhir.example.org/R4"
    auth = { kind = "bearer", token_file = "/etc/hjem/rh.token" }

    [[fhir_push.recipients]]
    name = "gp-clinic"
    organisation = "org-gp"
    base_url = "https://gp.example.org/fhir"
    auth = { kind = "smart", token_url = "https://gp.example.org/auth/token",
             client_id = "hjem-hub", private_key_file = "/etc/hjem/gp-key.pem",
             key_id = "hjem-1", algorithm = "ES384", scope = "system/Observation.c" }

Secrets are never in the file: a bearer token comes from ``token_file`` or the environment
variable named by ``token_env``; a SMART client's private key from ``private_key_file`` (PEM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

__all__ = ["BearerAuth", "FhirPushSettings", "PushRecipient", "SmartAuth"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(_Section):
    """A fixed bearer token the recipient issued, from a file or an environment variable."""

    kind: Literal["bearer"] = "bearer"
    token_file: Path | None = None
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_source(self) -> BearerAuth:
        if (self.token_file is None) == (self.token_env is None):
            raise ValueError("give exactly one of token_file and token_env")
        return self


class SmartAuth(_Section):
    """SMART Backend Services: client credentials with a signed JWT (``private_key_jwt``)."""

    kind: Literal["smart"] = "smart"
    token_url: HttpUrl
    client_id: str = Field(min_length=1)
    private_key_file: Path
    key_id: str = Field(min_length=1, description="the kid of the key in the registered JWKS")
    algorithm: Literal["RS384", "ES384"] = "ES384"
    scope: str = Field(default="system/Observation.c system/Device.c system/Patient.c")


class PushRecipient(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", description="label in logs/metrics")
    organisation: str = Field(min_length=1, description="the recipient organisation (registry)")
    base_url: HttpUrl
    purpose: str = Field(default="TREAT", description="v3 ActReason code a consent must name")
    auth: Annotated[BearerAuth | SmartAuth, Field(discriminator="kind")]
    bundle_entries: int = Field(
        default=8,
        ge=4,
        le=1000,
        description="entries per transaction Bundle at most (observations, their devices and"
        " residents); Medplum refuses conditional creates in transactions of more than 8",
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _check(self) -> PushRecipient:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be below backoff_initial_s")
        return self


class FhirPushSettings(_Section):
    """``[fhir_push]``: the recipients; none configured, nothing is exported."""

    recipients: tuple[PushRecipient, ...] = ()
    idle_s: float = Field(
        default=5.0, gt=0, le=3600, description="longest wait between looks at the outbox"
    )

    @model_validator(mode="after")
    def _unique(self) -> FhirPushSettings:
        names = [r.name for r in self.recipients]
        if len(names) != len(set(names)):
            raise ValueError(f"recipient names must be unique: {names}")
        return self
