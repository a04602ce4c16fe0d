"""Waiting with a timeout without losing a cancellation.

Before Python 3.12, ``asyncio.wait_for`` returns the result instead of raising when the task
is cancelled in the same moment as the awaited thing completes (CPython gh-86296). A task
cancelled once at shutdown then goes on running and the shutdown hangs: that was seen in the
edge publisher (a PUBACK) and the GATT sessions (a response). ``asyncio.timeout`` has no such
window, so the project waits through this module (tests/architecture/test_waiting.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109
    """``await awaitable`` for at most ``timeout`` s (None: no limit), else TimeoutError."""
    async with asyncio.timeout(timeout):
        return await awaitable
