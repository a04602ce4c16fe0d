"""The MQTT relay process (hub.mqtt.relay) behind MqttConnection, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hjem.mosquitto import Mosquitto
from hub.admin.provision import add_broker_user
from hub.config import IngestSettings, MqttSettings, TlsSettings
from hub.errors import MqttError
from hub.ingest.commit import Inbound
from hub.ingest.fastpath import accept
from hub.ingest.payloads import stored_form
from hub.ingest.verdicts import RELAY_JUDGE, restore
from hub.mqtt.connection import AckHandle, MqttConnection
from hub.mqtt.frames import encode_frame
from tests.hub.helpers import Client, batch
from tests.hub.processes import HubProcess, write_config

pytestmark = [pytest.mark.mosquitto]

TOPIC = "hjem/v1/gw-relay/obs"


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} still runs after {timeout:.0f} s")
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _relays_of(pid: int) -> list[int]:
    return [c for c in _children(pid) if _alive(c) and "hub.mqtt.relay" in _cmdline(c)]


def _connection(broker: Mosquitto, client_id: str, **mqtt: object) -> MqttConnection:
    settings = MqttSettings(url=broker.url, client_id=client_id, **mqtt)
    return MqttConnection(settings, IngestSettings())


async def _next(batches: AsyncIterator[list[Inbound]], timeout: float = 15.0) -> list[Inbound]:
    return await asyncio.wait_for(anext(batches), timeout)


def _take_over_session(broker: Mosquitto, client_id: str) -> None:
    """Connect with the relay's client id (the broker drops the relay), receive, ack nothing."""
    got = threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
    )
    client.on_message = lambda *_: got.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert got.wait(10), "the broker did not hand the unacknowledged message over"
    finally:
        client.disconnect()
        client.loop_stop()


async def _drain(conn: MqttConnection) -> None:
    async with asyncio.timeout(15):
        async for _ in conn.batches():
            pass


def _handle(inbound: Inbound) -> AckHandle:
    assert isinstance(inbound.handle, AckHandle)
    return inbound.handle


@pytest.mark.slow
def test_relay_exits_when_its_hub_process_is_sigkilled(broker: Mosquitto, tmp_path: Path) -> None:
    config = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-kill")
    hub = HubProcess(config, tmp_path / "hub.log").start()
    assert hub.proc is not None
    relays = _relays_of(hub.proc.pid)
    assert len(relays) == 1, f"expected one relay child, found {relays}"
    hub.kill()
    _wait_gone(relays[0], timeout=10)


@pytest.mark.slow
def test_sigterm_to_hub_and_relay_stops_the_hub_cleanly(broker: Mosquitto, tmp_path: Path) -> None:
    """As ``systemctl stop`` does (SIGTERM to the whole group): exit 0, relay gone."""
    config = write_config(tmp_path / "hub.toml", tmp_path / "hub.sqlite3", broker.url, "hub-term")
    hub = HubProcess(config, tmp_path / "hub.log").start()
    assert hub.proc is not None
    [relay] = _relays_of(hub.proc.pid)
    os.kill(relay, signal.SIGTERM)  # first, so that a relay dying on it would fail the hub
    time.sleep(0.3)
    assert _alive(relay)
    assert hub.stop() == 0, (tmp_path / "hub.log").read_text()[-2000:]
    _wait_gone(relay, timeout=5)


@pytest.mark.asyncio
async def test_stop_leaves_no_relay_behind(broker: Mosquitto) -> None:
    conn = _connection(broker, "relay-stop")
    await conn.start()
    pid = conn.relay_pid
    assert pid is not None
    assert _relays_of(os.getpid()) == [pid]
    assert (conn.connected, conn.subscribed) == (True, True)
    conn.stop()
    assert conn.relay_pid is None
    assert (conn.connected, conn.subscribed) == (False, False)
    assert not _alive(pid)  # stopped and reaped, not a zombie
    assert _relays_of(os.getpid()) == []
    conn.stop()  # a second stop is harmless


@pytest.mark.asyncio
async def test_relay_killed_from_outside_makes_batches_raise(broker: Mosquitto) -> None:
    conn = _connection(broker, "relay-killed")
    await conn.start()
    pid = conn.relay_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    try:
        with pytest.raises(MqttError, match=rf"relay process \(pid {pid}\) was killed by SIGKILL"):
            await _drain(conn)
        assert not conn.connected
    finally:
        conn.stop()
    assert not _alive(pid)


@pytest.mark.asyncio
async def test_acks_of_an_earlier_connection_are_not_sent(broker: Mosquitto) -> None:
    publisher = Client(broker, "relay-gen-publisher")
    payload = batch("gw-relay", 0, 1, device="dev-gen")
    conn = _connection(broker, "relay-gen")
    await conn.start()
    try:
        batches = conn.batches()
        publisher.publish(TOPIC, payload)
        [first] = await _next(batches)
        assert first.payload == payload
        assert _handle(first).generation == 1
        _take_over_session(broker, "relay-gen")  # the relay reconnects; the message comes again
        [again] = await _next(batches)
        assert again.payload == payload
        assert _handle(again).generation == 2
        assert _handle(again).mid == _handle(first).mid  # so a stale ack would hit this message
        assert conn.ack([first]) == 0  # not even offered to the relay
        # The relay drops a stale acknowledgement on its own too (same packet id, old generation).
        old = _handle(first)
        conn._send(encode_frame(("a", [(old.mid, old.qos, old.generation)])))
        await asyncio.sleep(0.3)
    finally:
        conn.stop()
        publisher.close()
    conn = _connection(broker, "relay-gen")
    await conn.start()
    try:
        batches = conn.batches()
        [third] = await _next(batches)  # still unacknowledged: the broker redelivers it
        assert third.payload == payload
        assert conn.ack([third]) == 1
        await asyncio.sleep(0.3)
    finally:
        conn.stop()
    conn = _connection(broker, "relay-gen")
    await conn.start()
    try:
        with pytest.raises(TimeoutError):  # acknowledged on its own connection: gone
            await _next(conn.batches(), timeout=1.5)
    finally:
        conn.stop()


@pytest.mark.asyncio
async def test_the_backlog_counts_every_message_received_and_not_acknowledged(
    broker: Mosquitto,
) -> None:
    """While the consumer holds a group (commits it, runs listeners) and does not read, what
    the relay sends is still taken in: the backlog and the oldest arrival count it."""
    settings = MqttSettings(url=broker.url, client_id="relay-backlog")
    conn = MqttConnection(settings, IngestSettings(max_batch_messages=1))
    publisher = Client(broker, "relay-backlog-publisher")
    await conn.start()
    try:
        batches = conn.batches()
        await asyncio.to_thread(publisher.publish, TOPIC, batch("gw-relay", 0, 1))
        [first] = await _next(batches)
        assert (conn.backlog, conn.oldest_waiting) == (1, first.received)  # being committed
        more = [(TOPIC, batch("gw-relay", i, 1)) for i in range(1, 10)]
        await asyncio.to_thread(publisher.publish_many, more)
        async with asyncio.timeout(30):
            while conn.backlog < 10:  # the reader runs on this loop
                await asyncio.sleep(0.05)
        assert conn.backlog == 10
        assert conn.ack([first]) == 1
        assert conn.backlog == 9
        assert conn.oldest_waiting is not None
        assert conn.oldest_waiting >= first.received
        for left in range(8, -1, -1):
            group = await _next(batches)
            assert conn.ack(group) == 1
            assert conn.backlog == left
        assert conn.oldest_waiting is None
    finally:
        conn.stop()
        publisher.close()


async def _collect_until_quiet(conn: MqttConnection) -> list[Inbound]:
    """Every message that arrives without acknowledging any (until 1 s of silence)."""
    held: list[Inbound] = []
    while True:
        try:
            held += await _next(conn.batches(), timeout=1.0)
        except TimeoutError:
            return held


@pytest.mark.asyncio
async def test_unacknowledged_messages_are_bounded_by_the_queue_size(broker: Mosquitto) -> None:
    settings = MqttSettings(url=broker.url, client_id="relay-bound")
    conn = MqttConnection(settings, IngestSettings(queue_size=20, max_batch_messages=50))
    publisher = Client(broker, "relay-bound-publisher")
    await conn.start()
    try:
        publisher.publish_many([(TOPIC, batch("gw-relay", i, 1)) for i in range(200)])
        held = await _collect_until_quiet(conn)
        assert len(held) == 20  # Receive Maximum = queue_size: the broker waits for acks
        assert conn.ack(held) == 20
        payloads = {inbound.payload for inbound in held}
        async with asyncio.timeout(20):
            async for group in conn.batches():
                assert len(group) <= 50
                assert conn.ack(group) == len(group)
                payloads |= {inbound.payload for inbound in group}
                if len(payloads) == 200:
                    break
    finally:
        conn.stop()
        publisher.close()


@pytest.mark.asyncio
async def test_bad_tls_file_fails_start_with_a_clear_message(
    broker: Mosquitto, tmp_path: Path
) -> None:
    missing = tmp_path / "missing-ca.pem"
    conn = _connection(broker, "relay-tls", tls=TlsSettings(ca_file=missing))
    started = time.monotonic()
    with pytest.raises(MqttError, match=r"cannot use the TLS files \(ca_file .*missing-ca\.pem\)"):
        await conn.start()
    assert time.monotonic() - started < 10  # reported at once, not after the start timeout
    assert conn.relay_pid is None
    assert _relays_of(os.getpid()) == []


@pytest.fixture
def password_broker(tmp_path: Path) -> Mosquitto:
    password_file = tmp_path / "passwd"
    add_broker_user(password_file, "hub", "right-password")
    return Mosquitto(
        workdir=tmp_path / "secured",
        allow_anonymous=False,
        password_file=password_file,
        extra=[f"user {pwd.getpwuid(os.geteuid()).pw_name}"],  # it reads the 0640 file
    )


@pytest.mark.asyncio
async def test_refused_credentials_fail_start(password_broker: Mosquitto) -> None:
    with password_broker:
        conn = _connection(password_broker, "relay-auth", username="hub", password="wrong")
        with pytest.raises(MqttError, match="the broker refused the connection: "):
            await conn.start()
        assert _relays_of(os.getpid()) == []


@pytest.mark.asyncio
async def test_password_travels_over_the_socket_only(password_broker: Mosquitto) -> None:
    with password_broker:
        conn = _connection(password_broker, "relay-auth", username="hub", password="right-password")
        await conn.start()
        try:
            pid = conn.relay_pid
            assert pid is not None
            assert conn.subscribed
            assert "right-password" not in _cmdline(pid)
            assert b"right-password" not in Path(f"/proc/{pid}/environ").read_bytes()
        finally:
            conn.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("least", [0, 4096, None])
async def test_the_relay_judges_messages_from_the_configured_size(
    broker: Mosquitto, least: int | None
) -> None:
    settings = MqttSettings(url=broker.url, client_id=f"relay-judge-{least}")
    conn = MqttConnection(
        settings, IngestSettings(judge_in_relay_min_bytes=least), judge=RELAY_JUDGE
    )
    publisher = Client(broker, f"relay-judge-publisher-{least}")
    small, large = batch("gw-relay", 0, 1), batch("gw-relay", 100, 40)
    assert len(small) < 4096 <= len(large)
    await conn.start()
    try:
        publisher.publish_many([(TOPIC, small), (TOPIC, large)])
        got: dict[bytes, Inbound] = {}
        batches = conn.batches()
        while len(got) < 2:
            got |= {i.payload: i for i in await _next(batches)}
        judged = {p for p, i in got.items() if i.verdict is not None}
        assert judged == {0: {small, large}, 4096: {large}, None: set()}[least]
        for payload in judged:
            restored = restore(got[payload].verdict or b"", publisher="gw-relay")
            assert restored is not None
            fast = accept(payload, now=datetime.now(UTC), expected_publisher="gw-relay")
            assert fast is not None
            assert restored == replace(fast, stored_payload=stored_form(payload))
        conn.ack(list(got.values()))
    finally:
        conn.stop()
        publisher.close()


@pytest.mark.asyncio
async def test_a_relay_that_hangs_ends_the_connection_with_a_clear_error(broker: Mosquitto) -> None:
    conn = _connection(broker, "relay-hang", relay_silence_s=1.2)
    await conn.start()
    pid = conn.relay_pid
    assert pid is not None
    try:
        with pytest.raises(TimeoutError):  # idle but alive: its heartbeats keep the hub waiting
            await _next(conn.batches(), timeout=3.0)
        os.kill(pid, signal.SIGSTOP)  # hung: alive, but silent
        started = time.monotonic()
        with pytest.raises(MqttError, match=rf"relay process \(pid {pid}\) sent nothing for 1.2 s"):
            await _next(conn.batches(), timeout=15.0)
        assert time.monotonic() - started < 10
        _wait_gone(pid)  # stopped by its PID, not left behind
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        conn.stop()


@pytest.mark.asyncio
async def test_a_reader_waiting_for_the_relay_can_always_be_cancelled(broker: Mosquitto) -> None:
    """Cancelling the ingest task while a heartbeat arrives must still cancel it (a swallowed
    cancellation left the hub unable to stop)."""
    conn = _connection(broker, "relay-cancel", relay_silence_s=0.6)  # a heartbeat every 0.1 s
    await conn.start()
    try:
        for attempt in range(40):
            task = asyncio.create_task(_next(conn.batches(), timeout=30))
            await asyncio.sleep(0.05 + (attempt % 10) * 0.011)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=3)
            assert done == {task}, f"attempt {attempt}: the cancellation was lost"
            assert task.cancelled()
    finally:
        conn.stop()
