"""The store's health as the running hub sees it: a fault state, and retrying with backoff.

A write that fails (a lock held by another process for longer than the hub's short busy
timeout, a full disk, ``max_page_count`` reached, an unreachable InfluxDB) raises
:class:`~hub.errors.StoreError`; its transaction was rolled back and nothing of it was
acknowledged. :meth:`StoreHealth.retry` then waits with exponential backoff in the event
loop (``asyncio.sleep``), so the API and the dashboard keep serving, and tries again until
it succeeds. The hub never exits on a store fault.

While a fault lasts, :attr:`StoreHealth.fault` says since when, how often it was tried and
the last error (for a status banner and ``/healthz``). One log line marks its start, one its
end.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from hub.errors import StoreError

__all__ = ["RETRY_FIRST_S", "RETRY_MAX_S", "StoreFault", "StoreHealth"]

log = logging.getLogger("hub.store_health")  # its name before the move: log filters keep working

T = TypeVar("T")

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
"""Backoff bounds: the first retry soon (a peer's short write), then at most every 5 s."""


@dataclass(slots=True)
class StoreFault:
    """A store fault in progress."""

    since: datetime
    operation: str
    detail: str
    attempts: int = 1

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "operation": self.operation,
            "detail": self.detail,
            "attempts": self.attempts,
        }


class StoreHealth:
    """The current store fault (None while writes succeed) and the retry loop."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.fault: StoreFault | None = None
        self.faults = 0
        """Faults since the hub started (each counted once, however long it lasted)."""

    @property
    def ok(self) -> bool:
        return self.fault is None

    def failed(self, operation: str, exc: Exception) -> None:
        """Note a failed write; logs only when a fault starts."""
        detail = str(exc)[:500]
        if self.fault is not None:
            self.fault.attempts += 1
            self.fault.operation, self.fault.detail = operation, detail
            return
        self.faults += 1
        self.fault = StoreFault(self._clock(), operation, detail)
        log.error(
            "store fault: %s failed: %s; nothing acknowledged, retrying with backoff",
            operation,
            detail,
        )

    def recovered(self) -> None:
        """Note a successful write; logs when it ends a fault."""
        fault, self.fault = self.fault, None
        if fault is not None:
            seconds = (self._clock() - fault.since).total_seconds()
            log.warning(
                "store fault over: writes succeed again after %.1f s and %d failed attempts",
                seconds,
                fault.attempts,
            )

    async def retry(
        self,
        operation: str,
        attempt: Callable[[], T],
        errors: tuple[type[Exception], ...] = (StoreError, sqlite3.Error),
        *,
        proves_writable: bool = True,
    ) -> T:
        """Call ``attempt`` until it does not raise one of ``errors`` (store errors); back off
        in between.

        ``proves_writable``: whether a success shows that the store takes writes again (a
        commit does; an alert tick that had nothing to write does not, so its success ends
        only a fault that it met itself).
        """
        delay = RETRY_FIRST_S
        failed = False
        while True:
            try:
                result = attempt()
            except errors as exc:
                failed = True
                self.failed(operation, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            else:
                if proves_writable or failed:
                    self.recovered()
                return result
