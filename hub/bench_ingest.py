"""``hjem bench ingest``: end-to-end hub ingest vs a raw paho QoS 1 subscriber, same broker.

For each shape (1 and 100 observations per message) a backlog of messages is published to
a real Mosquitto on 127.0.0.1 while the subscriber is offline (persistent session); then the
subscriber connects and the time until the last message is measured:

* raw: a paho-mqtt 2.x QoS 1 subscriber that does nothing with the message (auto-ack);
* relay only: :class:`hub.mqtt_client.MqttConnection` alone (its relay process, no
  validation or storage), acknowledging each batch as soon as it arrives;
* hub: the Hub (MQTT -> validate -> resolve -> SQLite commit with synchronous=FULL -> ack),
  timed until the post-commit listener has seen every observation, with the garbage
  collector tuned as ``hjem hub run`` tunes it (:func:`hub.service.tune_gc`);
* N hubs: N hub processes (``HJEM_BENCH_INGEST_PROCESSES``, default 2) on one MQTT 5 shared
  subscription and one database, timed until the database holds every observation.

Raw, relay and hub run in ``HJEM_BENCH_INGEST_ROUNDS`` (default 3) alternating rounds, so
that a slow minute on a shared machine hits all three; the table shows median times, and the
ratios are the medians of the ratios within each round.

Then, in-process on the hub's payloads without MQTT, the ceilings of the parts: the fast path
alone, validation with the pydantic models alone, and the commits alone (messages judged
beforehand, committed in groups of about 1,000 observations into a fresh database).
Observation ids are made as the edge makes them (:mod:`schemas.identity`), across 20 devices.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["ingest_throughput"]

SHAPES = tuple(
    (int(p), int(m))
    for p, m in (
        s.split("x") for s in os.environ.get("HJEM_BENCH_INGEST", "1x20000,100x1000").split(",")
    )
)
"""(observations per message, messages); override with HJEM_BENCH_INGEST=1x20000,100x1000."""


DEVICES = 20
"""Thermometers the benchmark's gateway reads, in turn (observation ids as the edge makes them)."""


def _payloads(prefix: str, per_message: int, messages: int) -> list[bytes]:
    from schemas.builders import make_observation
    from schemas.identity import observation_id
    from schemas.models import Batch, DeviceInfo, Source, encode

    t0 = datetime.now(UTC) - timedelta(days=1)
    templates = [
        make_observation(
            "body_temperature",
            source=Source(publisher="gw-bench", device=DeviceInfo(id=f"dev-{prefix}-{d}")),
            effective=t0,
            value="36.6",
        )
        for d in range(DEVICES)
    ]
    out = []
    for m in range(messages):
        obs = []
        for i in range(per_message):
            template = templates[(m * per_message + i) % DEVICES]
            primary = template.code[0]
            at = t0 + timedelta(milliseconds=m * per_message + i)
            oid = observation_id(
                template.source.device.id, primary.system, primary.code, at.isoformat()
            )
            obs.append(template.model_copy(update={"id": oid, "effective": at}))
        batch = Batch(message_id=f"{prefix}-{m}", publisher="gw-bench", sent=t0, observations=obs)
        out.append(encode(batch))
    return out


def _publish(port: int, payloads: list[bytes]) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish("hjem/v1/gw-bench/obs", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def _forget_session(port: int, client_id: str) -> None:
    """End a persistent session, so that it queues nothing for the next measurement."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port, clean_start=True)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def _raw_subscriber(port: int, messages: int, payloads: list[bytes], client_id: str) -> float:
    """Seconds a do-nothing paho QoS 1 subscriber takes to drain ``messages``."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    done = threading.Event()
    count = [0]

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        del client, userdata, msg
        count[0] += 1
        if count[0] >= messages:
            done.set()

    def connect(client: paho.Client) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect("127.0.0.1", port, clean_start=False, properties=props)

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.on_message = on_message
    connect(client)
    client.subscribe("hjem/v1/+/obs", qos=1)
    client.loop_start()
    time.sleep(0.3)
    client.disconnect()
    client.loop_stop()
    _publish(port, payloads)
    started = time.perf_counter()
    connect(client)
    client.loop_start()
    done.wait(300)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    _forget_session(port, client_id)
    return elapsed


async def _hub(
    port: int, workdir: Path, observations: int, payloads: list[bytes], client_id: str
) -> float:
    from hub.config import HttpSettings, HubSettings, MqttSettings
    from hub.service import Hub, HubEvent, StoredBatch

    settings = HubSettings(
        database=workdir / "hub.sqlite3",
        mqtt=MqttSettings(url=f"mqtt://127.0.0.1:{port}", client_id=client_id),
        http=HttpSettings(enabled=False),
    )
    async with Hub(settings, alerts=False):
        pass  # creates the persistent session
    await asyncio.to_thread(_publish, port, payloads)
    done = asyncio.Event()
    seen = [0]

    async def listener(event: HubEvent) -> None:
        if isinstance(event, StoredBatch):
            seen[0] += len(event.observations)
            if seen[0] >= observations:
                done.set()

    started = time.perf_counter()
    hub = Hub(settings, alerts=False)
    hub.add_listener(listener)
    async with hub:
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - started
    await asyncio.to_thread(_forget_session, port, client_id)
    return elapsed


async def _relay_only(port: int, messages: int, payloads: list[bytes], client_id: str) -> float:
    """Seconds MqttConnection alone takes to drain ``messages`` (each batch acked at once)."""
    from hub.config import IngestSettings, MqttSettings
    from hub.mqtt_client import MqttConnection

    mqtt = MqttSettings(url=f"mqtt://127.0.0.1:{port}", client_id=client_id)
    ingest = IngestSettings()
    conn = MqttConnection(mqtt, ingest)
    await conn.start()  # creates the persistent session
    conn.stop()
    await asyncio.to_thread(_publish, port, payloads)
    started = time.perf_counter()
    conn = MqttConnection(mqtt, ingest)
    await conn.start()
    seen = 0
    try:
        async for group in conn.batches():
            conn.ack(group)
            seen += len(group)
            if seen >= messages:
                break
        elapsed = time.perf_counter() - started
    finally:
        conn.stop()
    await asyncio.to_thread(_forget_session, port, client_id)
    return elapsed


SHARED_PROCESSES = int(os.environ.get("HJEM_BENCH_INGEST_PROCESSES", "2"))
"""Hub processes on one MQTT 5 shared subscription for the scale-out row (0: skip it)."""


async def _run_child(port: int, database: Path, client_id: str, *, stay: bool) -> None:
    """One hub process of the scale-out row: ingest only, until SIGTERM."""
    import signal

    from hub.config import HttpSettings, HubSettings, MqttSettings
    from hub.service import Hub, tune_gc

    tune_gc()
    url = f"mqtt://127.0.0.1:{port}"
    settings = HubSettings(
        database=database,
        mqtt=MqttSettings(url=url, client_id=client_id, shared_group="bench"),
        http=HttpSettings(enabled=False),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Hub(settings, alerts=False):
        if stay:
            await stop.wait()


def _shared_hubs(port: int, workdir: Path, observations: int, payloads: list[bytes]) -> float:
    """Seconds ``SHARED_PROCESSES`` hub processes on one shared subscription take to store all."""
    import sqlite3
    import subprocess
    import sys

    from hjem.mosquitto import die_with_parent

    database = workdir / "shared.sqlite3"

    def child(index: int, mode: str) -> subprocess.Popen[bytes]:
        args = [str(port), str(database), f"shared-{index}", mode]
        return subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "hub.bench_ingest", *args],
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
        )

    for index in range(SHARED_PROCESSES):  # create the sessions, one after the other
        if child(index, "once").wait(60) != 0:
            raise RuntimeError("a hub process of the scale-out row failed to start")
    _publish(port, payloads)
    started = time.perf_counter()
    procs = [child(index, "stay") for index in range(SHARED_PROCESSES)]
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        while conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0] < observations:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        conn.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    for index in range(SHARED_PROCESSES):
        _forget_session(port, f"shared-{index}")
    return elapsed


def _validate_only(payloads: list[bytes]) -> float:
    """Seconds validate_batch (the pydantic models) alone takes for the payloads."""
    from schemas.validation import validate_batch

    now = datetime.now(UTC)
    started = time.perf_counter()
    for payload in payloads:
        validate_batch(payload, now=now, expected_publisher="gw-bench")
    return time.perf_counter() - started


def _accept_only(payloads: list[bytes]) -> float:
    """Seconds the hub's fast path (hub.fastpath.accept) alone takes for the payloads."""
    from hub.fastpath import accept

    now = datetime.now(UTC)
    started = time.perf_counter()
    for payload in payloads:
        if accept(payload, now=now, expected_publisher="gw-bench") is None:
            raise RuntimeError("the benchmark's payloads must take the fast path")
    return time.perf_counter() - started


def _store_only(workdir: Path, payloads: list[bytes], per_message: int) -> float:
    """Seconds the hub's commits alone take (judged beforehand; groups of ~1,000 observations)."""
    from hub.config import HttpSettings, HubSettings
    from hub.ingest import Inbound, judge_all
    from hub.service import Hub

    settings = HubSettings(database=workdir / "store.sqlite3", http=HttpSettings(enabled=False))
    hub = Hub(settings, mqtt=False, alerts=False)
    now = datetime.now(UTC)
    inbounds = [Inbound("hjem/v1/gw-bench/obs", p, now) for p in payloads]
    size = max(1, 1000 // per_message)
    resolve = hub.registry.resolver()
    groups = [
        judge_all(inbounds[i : i + size], now=now, resolve=resolve)
        for i in range(0, len(inbounds), size)
    ]
    started = time.perf_counter()
    for judged in groups:
        hub.ingestor.commit(judged)
    elapsed = time.perf_counter() - started
    hub.store.close()
    hub.conn.close()
    return elapsed


def _report(
    per_message: int,
    messages: int,
    rows: list[tuple[str, float]],
    rounds: list[dict[str, float]],
) -> None:
    for name, seconds in rows:
        print(
            f"{per_message:>8} {messages:>9} {name:<12} "
            f"{messages / seconds:>10,.0f} {per_message * messages / seconds:>10,.0f}"
        )
    times = dict(rows)
    # Ratios within a round (same minute, same machine state), then their median.
    relay = statistics.median(r["raw paho"] / r["relay only"] for r in rounds)
    hub = statistics.median(r["raw paho"] / r["hjem hub"] for r in rounds)
    each = ", ".join(f"{r['raw paho'] / r['hjem hub']:.2f}" for r in rounds)
    print(f"{'':>8} {'':>9} {'relay / raw':<12} {relay:>10.2f}")
    print(f"{'':>8} {'':>9} {'hub / raw':<12} {hub:>10.2f}   (rounds: {each})")
    if per_message == 1:
        verdict = "met" if hub >= 0.8 else "NOT met"
        print(f"{'':>8} {'':>9} target: hub >= 0.8 x raw paho at 1 obs/msg: {verdict}")
    elif per_message >= 100:
        for name in ("hjem hub", f"{SHARED_PROCESSES} hubs"):
            if name in times:
                rate = per_message * messages / times[name]
                verdict = "met" if rate >= 50_000 else "NOT met"
                print(f"{'':>8} {'':>9} target: >= 50,000 obs/s at 100 obs/msg ({name}): {verdict}")


ROUNDS = int(os.environ.get("HJEM_BENCH_INGEST_ROUNDS", "3"))
"""Alternating rounds of raw paho, relay and hub: medians of the times and of the ratios."""


def _mqtt_round(
    port: int, root: Path, per_message: int, messages: int, index: int
) -> dict[str, float]:
    """One round: raw paho, relay only and hub, one after the other on fresh backlogs."""
    tag = f"{per_message}-{index}"
    raw_s = _raw_subscriber(
        port, messages, _payloads(f"raw{tag}", per_message, messages), f"raw-{tag}"
    )
    relay_payloads = _payloads(f"relay{tag}", per_message, messages)
    relay_s = asyncio.run(_relay_only(port, messages, relay_payloads, f"relay-{tag}"))
    work = root / f"hub-{tag}"
    work.mkdir()
    payloads = _payloads(f"hub{tag}", per_message, messages)
    hub_s = asyncio.run(_hub(port, work, per_message * messages, payloads, f"hub-{tag}"))
    return {"raw paho": raw_s, "relay only": relay_s, "hjem hub": hub_s}


def ingest_throughput() -> None:
    from hjem.mosquitto import Mosquitto
    from hub.service import tune_gc

    tune_gc()  # as `hjem hub run` does

    print("backlog drained by each subscriber; Mosquitto on 127.0.0.1, same broker, same run;")
    print(f"raw paho, relay only and hjem hub: median of {ROUNDS} alternating rounds")
    print("in-process ceilings on the hub's payloads, no MQTT: fast path = hub.fastpath.accept,")
    print("validate = schemas.validation.validate_batch (models), store = the commits alone")
    print(f"{'obs/msg':>8} {'messages':>9} {'subscriber':<12} {'msgs/s':>10} {'obs/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extra = ["max_inflight_messages 1000"]
        with Mosquitto(workdir=root / "mosquitto", extra=extra) as broker:
            for per_message, messages in SHAPES:
                rounds = [
                    _mqtt_round(broker.port, root, per_message, messages, r) for r in range(ROUNDS)
                ]
                rows = [
                    (name, statistics.median(r[name] for r in rounds))
                    for name in ("raw paho", "relay only", "hjem hub")
                ]
                work = root / f"ceilings-{per_message}"
                work.mkdir()
                payloads = _payloads(f"hub{per_message}", per_message, messages)
                if SHARED_PROCESSES > 1:
                    shared = _payloads(f"shared{per_message}", per_message, messages)
                    rows.append(
                        (
                            f"{SHARED_PROCESSES} hubs",
                            _shared_hubs(broker.port, work, per_message * messages, shared),
                        )
                    )
                rows += [
                    ("fast path", _accept_only(payloads)),
                    ("validate", _validate_only(payloads)),
                    ("store", _store_only(work, payloads, per_message)),
                ]
                _report(per_message, messages, rows, rounds)


if __name__ == "__main__":  # a hub process of the scale-out row (see _shared_hubs)
    import sys

    _port, _database, _client, _mode = sys.argv[1:5]
    asyncio.run(_run_child(int(_port), Path(_database), _client, stay=_mode == "stay"))
