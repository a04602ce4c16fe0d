"""The one clock type: a callable returning an aware UTC ``datetime``.

Every component that needs the time takes a :data:`Clock` (``hub.clock``, ``Agent(clock=…)``,
the alert engine, the authenticator) and calls it; only :func:`utcnow` reads the wall clock
(tests/architecture/test_clock.py keeps it so). Tests pass a :class:`ManualClock`, which is
itself a :data:`Clock` (call it) and can be set and advanced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, in UTC: the default :data:`Clock`."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told (tests, replays, benchmarks).

    ``clock()`` (or ``clock.now()``) is its time; ``set`` and ``advance`` return the new time.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> datetime:
        self._now = when.astimezone(UTC)
        return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move on by ``seconds`` plus any :class:`~datetime.timedelta` keywords (``minutes=5``)."""
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now
