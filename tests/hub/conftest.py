"""Hub fixtures: a running Hub against the real broker of the ``broker`` fixture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from hjem.mosquitto import Mosquitto
from hub.service import Hub, HubEvent
from tests.hub.helpers import settings_for


class RunningHub:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.events: list[HubEvent] = []

    async def record(self, event: HubEvent) -> None:
        self.events.append(event)


@pytest_asyncio.fixture
async def running(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with Hub(settings_for(broker, tmp_path)) as hub:
        wrapper = RunningHub(hub)
        hub.add_listener(wrapper.record)
        yield wrapper


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Poll a condition that depends on a real broker and a real hub."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")


from tests.support.victoria import victoria  # noqa: E402, F401 - fixture for the InfluxDB tests
