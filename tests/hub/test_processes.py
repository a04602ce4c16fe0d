"""The hub as a child process: SIGKILL mid-stream, and two processes on a shared subscription."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto
from tests.hub.helpers import Client, batch, expected_ids, wait_until
from tests.hub.processes import (
    HubProcess,
    count_when_ready,
    stored_ids,
    table_counts,
    write_config,
)
from tests.hub.test_mqtt_relay import _relays_of

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def _messages(publisher: str, first: int, count: int, per_message: int) -> list[tuple[str, bytes]]:
    return [
        (
            f"hjem/v1/{publisher}/obs",
            batch(publisher, first + i * per_message, per_message, device=f"dev-{publisher}"),
        )
        for i in range(count)
    ]


def _assert_exactly_once(database: Path, want: set[str]) -> None:
    assert stored_ids(database) == want
    counts = table_counts(database)
    # One row per observation; samples and roll-ups are written only for newly stored ones,
    # so a second store of any observation would show up in them.
    assert counts == {
        "observation": len(want),
        "distinct": len(want),
        "sample": len(want),
        "rollup_5min": len(want),
        "stored_counter": len(want),
    }


def test_sigkill_mid_stream_then_restart_stores_everything_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    conf = write_config(tmp_path / "hub.toml", database, broker.url, "hub-crash")
    hub = HubProcess(conf, tmp_path / "hub.log").start()
    pub = Client(broker, "gw-1-client")
    try:
        # Published while the hub stores, so that the kill lands mid-stream however fast the
        # hub is; what the dead hub misses the broker queues for its persistent session.
        first = _messages("gw-1", 0, 12_000, 2)
        publishing = threading.Thread(target=pub.publish_many, args=(first,))
        publishing.start()
        wait_until(lambda: count_when_ready(database) >= 400, what="the hub to be storing")
        hub.kill()
        publishing.join(60)
        at_kill = count_when_ready(database)
        print(f"observations stored when SIGKILLed: {at_kill} of {2 * len(first)}")
        assert at_kill < 2 * len(first), "the hub finished before the kill; not mid-stream"
        second = _messages("gw-1", 30_000, 500, 2)
        pub.publish_many(second)
        hub.start()
        want = expected_ids("gw-1", 0, 24_000, "dev-gw-1") | expected_ids(
            "gw-1", 30_000, 1000, "dev-gw-1"
        )
        wait_until(lambda: count_when_ready(database) >= len(want), timeout=90, what="all stored")
        hub.stop()
        _assert_exactly_once(database, want)
    finally:
        pub.close()


def test_two_hub_processes_on_a_shared_subscription_store_each_once(
    broker: Mosquitto, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    hubs = [
        HubProcess(
            write_config(
                tmp_path / f"hub-{name}.toml",
                database,
                broker.url,
                f"hub-{name}",
                protocol="5",
                shared_group="hubs",
            ),
            tmp_path / f"hub-{name}.log",
        ).start()
        for name in ("a", "b")
    ]
    publishers = [Client(broker, f"gw-{i}-client") for i in range(4)]
    want: set[str] = set()
    for i, pub in enumerate(publishers):
        pub.publish_many(_messages(f"gw-{i}", 0, 400, 1))
        want |= expected_ids(f"gw-{i}", 0, 400, f"dev-gw-{i}")
    wait_until(lambda: count_when_ready(database) >= len(want), timeout=90, what="all stored")
    for hub in hubs:
        assert hub.stop() == 0
    shares = [hub.stored_reported() for hub in hubs]
    print(f"observations stored by each hub process: {shares}")
    assert sum(shares) == len(want)
    assert all(share > 0 for share in shares), "the shared subscription did not split the load"
    _assert_exactly_once(database, want)
    for pub in publishers:
        pub.close()


def test_a_killed_relay_ends_hjem_hub_run_with_one_clear_line(
    broker: Mosquitto, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-k")
    log = tmp_path / "hub.log"
    hub = HubProcess(config, log).start()
    assert hub.proc is not None
    [relay] = _relays_of(hub.proc.pid)
    os.kill(relay, signal.SIGKILL)
    assert hub.proc.wait(20) == 1
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert "relay process" in last
    assert "SIGKILL" in last


def test_the_hubs_session_and_backlog_survive_broker_restarts(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Messages queued for a stopped hub survive a broker restart (Mosquitto's persistence),
    and a running hub resumes its session after the broker comes back."""
    database = tmp_path / "hub.sqlite3"
    conf = write_config(tmp_path / "hub.toml", database, broker.url, "hub-restarts")
    hub = HubProcess(conf, tmp_path / "hub.log").start()
    assert hub.stop() == 0  # the persistent session exists; the hub is down
    pub = Client(broker, "gw-1-client")
    pub.publish_many(_messages("gw-1", 0, 300, 2))  # queued for the hub's session
    pub.close()
    broker.restart()  # SIGTERM: Mosquitto saves sessions and queues, then loads them
    hub.start()
    want = expected_ids("gw-1", 0, 600, "dev-gw-1")
    wait_until(lambda: count_when_ready(database) >= len(want), timeout=60, what="the backlog")
    broker.restart()  # now with the hub running: its relay reconnects to the same session
    pub = Client(broker, "gw-1-client")
    try:
        pub.publish_many(_messages("gw-1", 5_000, 100, 2))
        want |= expected_ids("gw-1", 5_000, 200, "dev-gw-1")
        wait_until(lambda: count_when_ready(database) >= len(want), timeout=60, what="after it")
    finally:
        pub.close()
    assert hub.stop() == 0
    _assert_exactly_once(database, want)
