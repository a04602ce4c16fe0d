"""Throttling of failed sign-ins (injected clock).

Two limits, neither of which lets a stranger keep a care worker off the board:

* per **(user name, address)** pair: the first ``free_failures`` failures cost nothing, each
  further one doubles a wait before the next attempt from that pair (1 s, 2 s, 4 s, ... up
  to ``max_delay_seconds``); the count is forgotten after ``forget_seconds`` without a
  failure, or on a successful sign-in. Guessing from one address slows to a crawl, while
  the same user signs in from any other address as usual.
* per **address**: ``per_address`` failures within ``window_seconds`` (any user names)
  refuse that address until the oldest ages out.

The address is the TCP peer unless ``[http] forwarded_allow_ips`` names a trusted proxy
(then uvicorn takes it from ``X-Forwarded-For``).

Where the failures are kept: with a connection (as the hub runs it), in the auth tables of
the hub database (``auth_throttle_pair``, ``auth_throttle_failure``), so that every hub node
in front of one PostgreSQL sees the same failures whichever node a sign-in lands on, and a
restart forgets nothing; rows older than their window are deleted as failures arrive.
Without one, in memory, bounded to ``max_tracked`` pairs and addresses (the oldest are
dropped first).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from foundation.clock import Clock
from hub.auth.errors import TooManyAttemptsError
from hub.db import Connection, from_micros, to_micros, transaction

__all__ = ["LoginThrottle", "ThrottleLimits"]


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    free_failures: int = 5
    """Failures of one (user, address) pair before waits begin."""
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 900.0
    forget_seconds: float = 24 * 3600.0
    """A pair's count is forgotten this long after its last failure."""
    per_address: int = 20
    window_seconds: float = 900.0
    """An address's failures count within this sliding window."""
    max_tracked: int = 100_000


@dataclass(slots=True)
class _Pair:
    failures: int
    last: datetime


class LoginThrottle:
    """Refuse sign-in attempts after too many recent failures of a pair or an address."""

    def __init__(
        self, clock: Clock, limits: ThrottleLimits | None = None, conn: Connection | None = None
    ) -> None:
        """``conn``: keep the failures in the hub database (migrated by
        :class:`~hub.auth.users.UserStore`), shared by every hub node; None: in memory."""
        self._clock = clock
        self._limits = limits or ThrottleLimits()
        self._shared = None if conn is None else _SharedFailures(conn, self._limits)
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._addresses: OrderedDict[str, deque[datetime]] = OrderedDict()

    def delay_after(self, failures: int) -> float:
        """Seconds a pair waits after ``failures`` failures (0 while still free)."""
        extra = failures - self._limits.free_failures
        if extra <= 0:
            return 0.0
        delay = self._limits.first_delay_seconds * 2.0 ** (extra - 1)
        return min(delay, self._limits.max_delay_seconds)

    def check(self, username: str, address: str | None) -> None:
        """Raise :class:`TooManyAttemptsError` if the pair or the address must wait now."""
        now = self._clock()
        if self._shared is not None:
            failures, last, recent = self._shared.read(_pair_key(username, address), now)
            self._refuse(_Pair(failures, last) if failures else None, recent, now)
            return
        key = _pair_key(username, address)
        pair = self._pairs.get(key)
        if pair is not None and now - pair.last >= timedelta(seconds=self._limits.forget_seconds):
            del self._pairs[key]
            pair = None
        self._refuse(pair, list(self._recent(address, now)) if address else [], now)

    def _refuse(self, pair: _Pair | None, recent: list[datetime], now: datetime) -> None:
        if pair is not None:
            ready = pair.last + timedelta(seconds=self.delay_after(pair.failures))
            if now < ready:
                wait = (ready - now).total_seconds()
                raise TooManyAttemptsError("user and address", max(1, math.ceil(wait)))
        if len(recent) >= self._limits.per_address:
            wait = (
                recent[0] + timedelta(seconds=self._limits.window_seconds) - now
            ).total_seconds()
            raise TooManyAttemptsError("address", max(1, math.ceil(wait)))

    def failure(self, username: str, address: str | None) -> None:
        now = self._clock()
        key = _pair_key(username, address)
        if self._shared is not None:
            self._shared.failure(key, now)
            return
        pair = self._pairs.pop(key, None) or _Pair(0, now)
        pair.failures += 1
        pair.last = now
        self._pairs[key] = pair  # most recent last: the oldest are dropped first
        if address:
            recent = self._recent(address, now)
            recent.append(now)
            self._addresses[address] = recent
            self._addresses.move_to_end(address)
        self._bound()

    def success(self, username: str, address: str | None) -> None:
        if self._shared is not None:
            self._shared.success(_pair_key(username, address))
        self._pairs.pop(_pair_key(username, address), None)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        entries = self._addresses.get(address)
        if entries is None:
            return deque(maxlen=self._limits.per_address)
        horizon = now - timedelta(seconds=self._limits.window_seconds)
        while entries and entries[0] <= horizon:
            entries.popleft()
        return entries

    def _bound(self) -> None:
        while len(self._pairs) > self._limits.max_tracked:
            self._pairs.popitem(last=False)
        while len(self._addresses) > self._limits.max_tracked:
            self._addresses.popitem(last=False)


def _pair_key(username: str, address: str | None) -> tuple[str, str]:
    return (username.lower(), address or "")


class _SharedFailures:
    """The throttle's failures in the hub database (see the module doc)."""

    def __init__(self, conn: Connection, limits: ThrottleLimits) -> None:
        self._conn = conn
        self._limits = limits

    def read(self, key: tuple[str, str], now: datetime) -> tuple[int, datetime, list[datetime]]:
        """The pair's failures (0 once forgotten) and last failure, and the address's recent
        failures within the window (oldest first, at most ``per_address``)."""
        username, address = key
        forget = to_micros(now - timedelta(seconds=self._limits.forget_seconds))
        row = self._conn.execute(
            "SELECT failures, last_us FROM auth_throttle_pair WHERE username = ? AND address = ?"
            " AND last_us > ?",
            (username, address, forget),
        ).fetchone()
        recent: list[datetime] = []
        if address:
            horizon = to_micros(now - timedelta(seconds=self._limits.window_seconds))
            rows = self._conn.execute(
                "SELECT at_us FROM auth_throttle_failure WHERE address = ? AND at_us > ?"
                " ORDER BY at_us DESC LIMIT ?",
                (address, horizon, self._limits.per_address),
            ).fetchall()
            recent = [from_micros(int(r[0])) for r in reversed(rows)]
        if row is None:
            return 0, now, recent
        return int(row[0]), from_micros(int(row[1])), recent

    def failure(self, key: tuple[str, str], now: datetime) -> None:
        username, address = key
        now_us = to_micros(now)
        forget = to_micros(now - timedelta(seconds=self._limits.forget_seconds))
        horizon = to_micros(now - timedelta(seconds=self._limits.window_seconds))
        with transaction(self._conn):
            self._conn.execute("DELETE FROM auth_throttle_pair WHERE last_us <= ?", (forget,))
            self._conn.execute(
                "INSERT INTO auth_throttle_pair (username, address, failures, last_us)"
                " VALUES (?, ?, 1, ?) ON CONFLICT (username, address) DO UPDATE"
                " SET failures = auth_throttle_pair.failures + 1, last_us = excluded.last_us",
                (username, address, now_us),
            )
            if address:
                self._conn.execute("DELETE FROM auth_throttle_failure WHERE at_us <= ?", (horizon,))
                self._conn.execute(
                    "INSERT INTO auth_throttle_failure (address, at_us) VALUES (?, ?)",
                    (address, now_us),
                )

    def success(self, key: tuple[str, str]) -> None:
        self._conn.execute("DELETE FROM auth_throttle_pair WHERE username = ? AND address = ?", key)
