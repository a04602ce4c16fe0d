"""The edge agent's errors: one root, :class:`EdgeError`, with subclasses that carry data.

Foreign errors (pydantic, sqlite3, aiomqtt, bleak, bumble) are translated into these at the
boundary where they occur, so that callers and the CLI deal with one family.
"""

from __future__ import annotations

from collections.abc import Sequence

from foundation.settings import Problem, SettingsError

__all__ = [
    "AdapterError",
    "ConfigError",
    "EdgeError",
    "GattSessionError",
    "OutboxError",
    "PublishError",
    "RadioError",
]


class EdgeError(Exception):
    """Root of every error the edge agent raises on purpose."""


class ConfigError(EdgeError, SettingsError):
    """The configuration is wrong: ``problems`` lists every (key, problem); ``key`` and
    ``problem`` are the first."""

    def __init__(
        self, key: str, problem: str, source: str = "", more: Sequence[Problem] = ()
    ) -> None:
        SettingsError.__init__(self, source, [(key, problem), *more])
        self.key = key
        self.problem = problem

    @classmethod
    def of(cls, error: SettingsError) -> ConfigError:
        (key, problem), *more = error.problems
        return cls(key, problem, error.source, more)


class OutboxError(EdgeError):
    """The on-disk outbox could not be opened, written or read."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"outbox {path}: {problem}")
        self.path = path
        self.problem = problem


class PublishError(EdgeError):
    """The broker refused or dropped a publication (the rows stay in the outbox)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"MQTT {url}: {problem}")
        self.url = url
        self.problem = problem


class RadioError(EdgeError):
    """A Bluetooth radio (BlueZ or virtual) failed."""

    def __init__(self, adapter: str, problem: str) -> None:
        super().__init__(f"adapter {adapter}: {problem}")
        self.adapter = adapter
        self.problem = problem


class AdapterError(RadioError):
    """An adapter could not be restarted or power-cycled."""


class GattSessionError(EdgeError):
    """A GATT session with one device failed (connect, discovery, subscribe, RACP)."""

    def __init__(self, address: str, problem: str) -> None:
        super().__init__(f"device {address}: {problem}")
        self.address = address
        self.problem = problem
