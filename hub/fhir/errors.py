"""Errors of the FHIR room: a consent or client change refused, an API request refused."""

from __future__ import annotations

from hub.errors import HubError

__all__ = ["ConsentError", "FhirClientError"]


class ConsentError(HubError):
    """A consent change that breaks the rules (unknown resident, another organisation's
    resident, an empty period, an unknown purpose, a consent already revoked)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"consent {key}: {problem}")


class FhirClientError(HubError):
    """A FHIR client registration that is refused (bad JWKS, unknown organisation, duplicate)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"FHIR client {key!r}: {problem}")
