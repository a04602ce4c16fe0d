"""Issue 15, finding 6 on the alert path: a database that cannot write must neither stop the
hub's alert evaluation for good nor leave an alert changed in memory but not on disk.

Before: a failed alert write (``StorageError`` from a locked or full database) escaped the
tick loop and ended the hub, and the open alert kept the change that was never stored, so
the next attempt skipped it. Now the change is undone in memory, and the hub retries.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hub.alerts.errors import StorageError
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.store.health import StoreHealth
from tests.support.alerts import T0, Harness, obs

RULES = """
[escalation.care]
repeat_seconds = 300
steps = [
  { responder = "team:day", ack_deadline_seconds = 60 },
  { responder = "team:lead", ack_deadline_seconds = 60 },
]

[[rule]]
id = "spo2-low"
kind = "threshold"
measure = "spo2"
operator = "<"
value = 92
clear_value = 94
pending_seconds = 0
severity = "high"
escalation = "care"
"""


class FailingWrites:
    """Makes the alert store's writes fail while ``failing`` is set (a locked database)."""

    def __init__(self, harness: Harness) -> None:
        self.failing = False
        store = harness.engine.store
        record = store.record

        def guarded(*args: object, **kwargs: object) -> None:
            if self.failing:
                raise StorageError("alert store record: database is locked")
            record(*args, **kwargs)  # type: ignore[arg-type]

        store.record = guarded  # type: ignore[method-assign]


def _escalations(harness: Harness) -> list[tuple[int, int]]:
    return [(e.sequence, e.escalation_level) for e in harness.events if e.escalation_level]


def test_a_change_that_could_not_be_stored_is_made_again(tmp_path: Path) -> None:
    harness = Harness(tmp_path / "hub.sqlite3", RULES)
    writes = FailingWrites(harness)
    harness.feed(obs("spo2", "85", at=T0))
    [opened] = harness.events
    writes.failing = True
    harness.clock.advance(61)
    with pytest.raises(StorageError):
        harness.engine.tick()
    [row] = harness.engine.store.open_alerts()
    assert (row.escalation_level, row.sequence) == (0, opened.sequence)
    writes.failing = False
    harness.engine.tick()
    assert _escalations(harness) == [(opened.sequence + 1, 1)]
    harness.restart()  # what is on disk agrees with what was announced
    [row] = harness.engine.store.open_alerts()
    assert (row.escalation_level, row.sequence) == (1, opened.sequence + 1)


def test_the_tick_loop_retries_a_store_fault_instead_of_ending(tmp_path: Path) -> None:
    async def scenario() -> None:
        harness = Harness(tmp_path / "hub.sqlite3", RULES)
        writes = FailingWrites(harness)
        harness.feed(obs("spo2", "85", at=T0))
        health = StoreHealth(harness.clock.now)
        service = AlertService(harness.engine, AlertSettings(tick_seconds=0.05), health=health)
        async with service:
            writes.failing = True
            harness.clock.advance(61)
            await _until(lambda: health.fault is not None)
            assert not any(t.done() for t in service._tasks)  # still running
            writes.failing = False
            await _until(lambda: bool(_escalations(harness)))
            assert health.fault is None
            assert health.faults == 1
        assert len(_escalations(harness)) == 1

    asyncio.run(scenario())


async def _until(predicate: object, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
