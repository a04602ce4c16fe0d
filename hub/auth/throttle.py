"""Throttling of failed sign-ins, per user name and per client address (injected clock)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hub.auth.errors import TooManyAttemptsError

__all__ = ["Clock", "LoginThrottle", "ThrottleLimits"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_user: int = 5
    per_address: int = 20
    window_seconds: float = 900.0
    """Failures count within this sliding window; the oldest must age out before retrying."""


class LoginThrottle:
    """Refuse sign-in attempts after too many recent failures for a user or an address.

    In memory (a restart forgets failures); bounded by pruning on every call.
    """

    def __init__(self, clock: Clock, limits: ThrottleLimits | None = None) -> None:
        self._clock = clock
        self._limits = limits or ThrottleLimits()
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        entries = self._failures.get(key)
        if entries is None:
            return deque()
        horizon = now - timedelta(seconds=self._limits.window_seconds)
        while entries and entries[0] <= horizon:
            entries.popleft()
        if not entries:
            del self._failures[key]
        return entries

    def check(self, username: str, address: str | None) -> None:
        """Raise :class:`TooManyAttemptsError` if the user or address is throttled now."""
        now = self._clock.now()
        window = timedelta(seconds=self._limits.window_seconds)
        scopes = [(f"user:{username.lower()}", self._limits.per_user, "user")]
        if address:
            scopes.append((f"addr:{address}", self._limits.per_address, "address"))
        for key, limit, label in scopes:
            recent = self._recent(key, now)
            if len(recent) >= limit:
                wait = (recent[len(recent) - limit] + window - now).total_seconds()
                raise TooManyAttemptsError(label, max(1, math.ceil(wait)))

    def failure(self, username: str, address: str | None) -> None:
        now = self._clock.now()
        self._failures.setdefault(f"user:{username.lower()}", deque()).append(now)
        if address:
            self._failures.setdefault(f"addr:{address}", deque()).append(now)

    def success(self, username: str) -> None:
        self._failures.pop(f"user:{username.lower()}", None)
