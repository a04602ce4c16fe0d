"""The publisher against a real Mosquitto: PUBACK before delete, broker outages, status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import EdgeConfig, parse_config
from edge.outbox import Outbox, StoredItem
from edge.publisher import (
    AckingClient,
    Publisher,
    backoff_delays,
    batch_envelope,
    split_batches,
)
from hjem.mosquitto import Mosquitto
from schemas.models import Batch, GatewayStatus, StatusKind, encode
from schemas.validation import validate_batch
from tests.support.edge import NOW, collector, observation, wait_until

pytestmark = pytest.mark.mosquitto


def config(tmp_path: Path, port: int, **extra: object) -> EdgeConfig:
    return parse_config(
        {
            "gateway_id": "gw1",
            "mqtt": {
                "url": f"mqtt://127.0.0.1:{port}",
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
                "batch_linger_s": 0,
                **extra,
            },
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
            "heartbeat_interval_s": 0.2,
        }
    )


def status_of(kind: StatusKind) -> GatewayStatus:
    return GatewayStatus(
        publisher="gw1", kind=kind, online=kind != StatusKind.DEATH, time=datetime.now(UTC)
    )


def fill(box: Outbox, start: int, count: int) -> list[str]:
    obs = [observation(i) for i in range(start, start + count)]
    box.put(StoredItem(o.id, False, encode(o)) for o in obs)
    return [o.id for o in obs]


def test_envelope_is_the_batch_wire_form() -> None:
    obs = [observation(i) for i in range(3)]
    raw = batch_envelope("gw1", "m-1", NOW, [encode(o) for o in obs])
    batch = Batch(message_id="m-1", publisher="gw1", sent=NOW, observations=obs)
    assert raw == encode(batch)
    assert len(validate_batch(raw, now=NOW, expected_publisher="gw1").accepted) == 3


def test_batches_respect_count_and_bytes() -> None:
    from edge.outbox import OutboxRow

    rows = [OutboxRow(i, b"x" * 100, f"id{i}") for i in range(10)]
    assert [len(b) for b in split_batches(rows, 4)] == [4, 4, 2]
    assert [len(b) for b in split_batches(rows, 100, max_bytes=350)] == [3, 3, 3, 1]
    # the same observation twice (a re-sent reading): once per batch, range kept whole
    dup = [OutboxRow(1, b"a", "x"), OutboxRow(2, b"b", "y"), OutboxRow(3, b"a", "x")]
    (batch,) = split_batches([*dup, OutboxRow(4, b"c", "z")], 10)
    assert [r.seq for r in batch] == [1, 2, 4]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    delay = backoff_delays(0.5, 30, random.Random(1))
    firsts = [delay(0) for _ in range(50)]
    assert all(0.25 <= d <= 0.75 for d in firsts)
    assert len(set(firsts)) > 40, "jittered"
    assert all(delay(40) <= 30.25 for _ in range(50))


@pytest.mark.asyncio
async def test_everything_arrives_once_acknowledged_and_leaves_the_outbox(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = config(tmp_path, broker.port, batch_max_observations=50)
    with Outbox(cfg.outbox.path, cfg.outbox.quota_bytes) as box:
        ids = fill(box, 0, 1000)
        async with collector(broker.port) as got:
            publisher = Publisher(cfg, box, status_of)
            task = asyncio.create_task(publisher.run())
            publisher.wake()
            await wait_until(lambda: len(got.ids) >= 1000, what="1000 observations")
            await wait_until(lambda: box.depth == 0, what="an empty outbox")
            await wait_until(lambda: len(got.statuses) >= 2, what="birth and a heartbeat")
            task.cancel()
        assert got.errors == []
        assert sorted(got.ids) == sorted(ids)
        assert got.messages == 20
        assert got.statuses[0].kind == StatusKind.BIRTH


@pytest.mark.asyncio
async def test_broker_outage_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = config(tmp_path, broker.port, batch_max_observations=20)
    with Outbox(cfg.outbox.path, cfg.outbox.quota_bytes) as box:
        async with collector(broker.port) as got:
            publisher = Publisher(cfg, box, status_of)
            task = asyncio.create_task(publisher.run())
            sent = fill(box, 0, 200)
            publisher.wake()
            await wait_until(lambda: len(got.ids) >= 200, what="the first 200")
        broker.stop()
        for start in range(200, 1200, 100):  # produced while the broker is down
            sent += fill(box, start, 100)
            publisher.wake()
            await asyncio.sleep(0.02)
        assert box.depth == 1000
        await asyncio.sleep(0.5)
        broker.start()
        async with collector(broker.port) as got2:
            await wait_until(lambda: box.depth == 0, what="the backlog to drain")
            await wait_until(lambda: len(got2.unique() | got.unique()) >= 1200, what="all ids")
        task.cancel()
        assert (got.unique() | got2.unique()) == set(sent)
        assert publisher.stats.connection_losses >= 1


@pytest.mark.asyncio
async def test_last_will_marks_the_gateway_offline(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = config(tmp_path, broker.port, keepalive_s=5)
    with Outbox(cfg.outbox.path, cfg.outbox.quota_bytes) as box:
        publisher = Publisher(cfg, box, status_of)
        task = asyncio.create_task(publisher.run())
        await asyncio.wait_for(publisher.connected.wait(), 10)
        # an abrupt end of the connection (as a crashed gateway): the broker sends the Will
        client = publisher._current
        assert client is not None
        sock = client._client.socket()
        assert sock is not None
        sock.close()
        task.cancel()
    async with aiomqtt.Client("127.0.0.1", broker.port) as sub:
        await sub.subscribe("hjem/v1/gw1/status", qos=1)
        async with asyncio.timeout(10):
            async for message in sub.messages:
                status = GatewayStatus.model_validate_json(message.payload)
                if status.kind == StatusKind.DEATH:
                    break
        assert status.online is False
        assert message.retain


@pytest.mark.asyncio
async def test_no_matching_subscribers_keeps_the_rows_until_someone_subscribes(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """MQTT 5 PUBACK 0x10 "No matching subscribers" (no hub session subscribes, e.g. after a
    broker restart lost a shared subscription) is not a delivery: nothing leaves the outbox."""
    cfg = config(tmp_path, broker.port, batch_max_observations=10)
    with Outbox(cfg.outbox.path, cfg.outbox.quota_bytes) as box:
        publisher = Publisher(cfg, box, status_of)
        task = asyncio.create_task(publisher.run())
        sent = fill(box, 0, 50)
        publisher.wake()
        await wait_until(lambda: publisher.stats.not_delivered >= 10, what="refused PUBACKs")
        assert box.depth == 50
        assert publisher.stats.connection_losses == 0  # sent again on the same connection
        async with collector(broker.port) as got:
            await wait_until(lambda: box.depth == 0, what="the outbox to drain")
            await wait_until(lambda: got.unique() >= set(sent), what="all ids")
        task.cancel()
        assert got.unique() == set(sent)


@pytest.mark.asyncio
async def test_a_cancellation_that_comes_with_a_puback_still_ends_the_publisher(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown cancels the publisher and its tasks together (the end of asyncio.run, the
    agent's TaskGroup). On Python 3.11 aiomqtt's wait (asyncio.wait_for) returned normally
    when that cancellation came just as a PUBACK arrived: the heartbeat published on and
    run() never ended (a hang at shutdown). The race is made exact here: the cancellation is
    scheduled from the PUBACK callback, behind the wake-up of the waiting publish."""
    loop = asyncio.get_running_loop()
    armed: list[asyncio.Task[None]] = []
    on_publish = AckingClient._on_publish

    def cancel_at_puback(self: AckingClient, *args: Any) -> None:
        on_publish(self, *args)
        if armed:
            tasks = [armed.pop(), *_named("mqtt-heartbeat")]
            loop.call_soon(lambda: [t.cancel() for t in tasks])

    monkeypatch.setattr(AckingClient, "_on_publish", cancel_at_puback)
    cfg = config(tmp_path, broker.port)
    with Outbox(cfg.outbox.path, cfg.outbox.quota_bytes) as box:
        publisher = Publisher(cfg, box, status_of)
        task = asyncio.create_task(publisher.run())
        await asyncio.wait_for(publisher.connected.wait(), 30)
        armed.append(task)  # the outbox is empty: the next PUBACK is a heartbeat's
        await asyncio.wait([task], timeout=60)
        ended = task.done()
        for left in [task, *_named("mqtt-heartbeat")]:  # a second cancellation ends it
            left.cancel()
        await asyncio.wait([task], timeout=30)
    assert not armed, "the cancellation was scheduled"
    assert ended, "the publisher went on after its cancellation"
    assert task.cancelled()


def _named(name: str) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]
