"""The hub's exceptions: one root, subclasses that carry what went wrong and where."""

from __future__ import annotations

from foundation.settings import Problem, SettingsError

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "HubError",
    "MqttError",
    "RegistryError",
    "StoreError",
]


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(HubError, SettingsError):
    """The hub configuration is invalid; ``problems`` lists every (key, problem)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        SettingsError.__init__(self, source, problems)


class RegistryError(HubError):
    """A registry change that would break its rules (unknown id, overlapping assignment)."""

    def __init__(self, entity: str, key: str, problem: str) -> None:
        self.entity = entity
        self.key = key
        self.problem = problem
        super().__init__(f"{entity} {key!r}: {problem}")


class StoreError(HubError):
    """The time-series store failed; nothing of the failed write was acknowledged."""

    def __init__(self, backend: str, operation: str, detail: str) -> None:
        self.backend = backend
        self.operation = operation
        self.detail = detail
        super().__init__(f"{backend} {operation} failed: {detail}")


class MqttError(HubError):
    """The MQTT connection could not be made or was refused."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"MQTT {url}: {detail}")


class AuthenticationError(HubError):
    """A publisher credential (HTTP bearer token) is missing or wrong."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)
