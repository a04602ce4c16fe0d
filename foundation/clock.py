"""The one clock type: a callable returning an aware UTC ``datetime``.

Every component that needs the time takes a :data:`Clock` (``hub.clock``, ``Agent(clock=…)``,
the alert engine, the authenticator); only :func:`utcnow` reads the wall clock. Tests pass a
:class:`ManualClock`, which is itself a :data:`Clock` (call it) and can be set and advanced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "NowClock", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, in UTC: the default :data:`Clock`."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told: ``clock()`` (or ``clock.now()``) is its time."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class NowClock:
    """A :data:`Clock` as an object with ``now()``, for components that take one."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()
