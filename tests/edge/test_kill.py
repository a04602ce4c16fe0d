"""The agent as users run it (``hjem edge run --config``), killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto
from schemas.models import StatusKind
from tests.support.edge import agent_config_dict, collector, device_list, toml_of, wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow, pytest.mark.asyncio]
HJEM = str(Path(sys.executable).parent / "hjem")


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [HJEM, "edge", "run", "--config", str(config)], stdout=out, stderr=out
        )


def waiting_ids(outbox: Path) -> set[str]:
    if not outbox.exists():
        return set()
    with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
        try:
            return {row[0] for row in db.execute("SELECT obs_id FROM outbox")}
        except sqlite3.OperationalError:
            return set()


async def test_sigkill_mid_stream_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    data = agent_config_dict(
        tmp_path,
        broker.port,
        devices=device_list(("bthome", "bthome", "ruuvi", "xiaomi", "xiaomi", "glucose")),
        virtual={"advert_interval_s": 0.1},
    )
    config = tmp_path / "edge.toml"
    config.write_text(toml_of(data), encoding="utf-8")
    outbox = tmp_path / "outbox.sqlite"
    log = tmp_path / "agent.log"
    agent = start_agent(config, log)
    try:
        async with collector(broker.port) as before:
            await wait_until(lambda: len(before.ids) > 30, timeout=30, what="a stream")
        broker.stop()  # a backlog builds up in the outbox while the broker is away
        await wait_until(lambda: len(waiting_ids(outbox)) > 50, timeout=30, what="a backlog")
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(10)
        backlog = waiting_ids(outbox)
        assert len(backlog) > 50
        broker.start()
        agent = start_agent(config, log)
        async with collector(broker.port) as after:
            await wait_until(
                lambda: backlog <= after.unique(), timeout=60, what="every stored id after restart"
            )
            await wait_until(lambda: any(s.kind == StatusKind.HEARTBEAT for s in after.statuses))
            # killed again while connected and publishing: whatever was not acknowledged stays
            count = len(after.ids)
            await wait_until(lambda: len(after.ids) > count + 30, what="publishing again")
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(10)
            unacknowledged = waiting_ids(outbox)
            births = sum(s.kind == StatusKind.BIRTH for s in after.statuses)
            agent = start_agent(config, log)
            await wait_until(
                lambda: unacknowledged <= after.unique(), timeout=60, what="the in-flight ones"
            )
            await wait_until(
                lambda: sum(s.kind == StatusKind.BIRTH for s in after.statuses) > births,
                timeout=30,
                what="the restarted agent online",
            )
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(20) == 0
            await wait_until(lambda: after.statuses[-1].kind == StatusKind.DEATH, what="death")
        assert before.errors == []
        assert after.errors == []
        assert backlog.isdisjoint(before.unique()), "these were never acknowledged before"
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "retrying in" in text, "the broker outage is in the log for the installer"
    await asyncio.sleep(0)
