"""``hjem bench ingest``: end-to-end hub ingest vs a raw paho QoS 1 subscriber, same broker.

For each shape (1 and 100 observations per message) a backlog of messages is published to
a real Mosquitto on 127.0.0.1 while the subscriber is offline (persistent session); then the
subscriber connects and the time until the last message is measured:

* raw: a paho-mqtt 2.x QoS 1 subscriber that does nothing with the message (auto-ack);
* relay only: :class:`hub.mqtt.connection.MqttConnection` alone (its relay process, which judges
  messages from 4 KiB as the hub's does; no storage), acknowledging each batch on arrival;
* hub: the Hub (MQTT -> validate -> resolve -> SQLite commit with synchronous=FULL -> ack),
  timed until the post-commit listener has seen every observation, with the garbage
  collector tuned as ``hjem hub run`` tunes it (:func:`hub.service.tune_gc`);
* PostgreSQL rows (:mod:`bench.ingest_postgres`): one hub process and
  ``HJEM_BENCH_INGEST_PROCESSES`` (default 2) on an MQTT 5 shared subscription, alerts off
  and on, storing into a PostgreSQL cluster that the benchmark starts on 127.0.0.1 (fsync
  on, as in production; :mod:`hjem.postgres`), once per shape after the alternating rounds,
  with CPU per observation for hub, relay and PostgreSQL; left out when Debian's
  ``postgresql`` is not installed;
* N hubs: N hub processes (``HJEM_BENCH_INGEST_PROCESSES``, default 2) on one MQTT 5 shared
  subscription and one SQLite file, timed until it holds every observation
  (:mod:`bench.ingest_shared`).

Each subscriber is timed twice: *drain*, from its start (connect; for the hub, creating its
objects and starting its relay process) to the last message, and *steady*, from the first
message in its hands to the last, which leaves out start-up (about 0.7 s for the hub).

Raw, relay and hub run in ``HJEM_BENCH_INGEST_ROUNDS`` (default 3) alternating rounds, so
that a slow minute on a shared machine hits all three; the table shows median times, and the
ratios are the medians of the ratios within each round.

Then, in-process on the hub's payloads without MQTT, the ceilings of the parts
(:mod:`bench.ingest_ceilings`): the fast path alone, validation with the pydantic models alone,
and the commits alone (messages judged beforehand, committed in groups of about 1,000
observations into a fresh database).
Observation ids are made as the edge makes them (:mod:`schemas.identity`), across 20 devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.ingest_postgres import PG_ROW, cpu_lines
from bench.ingest_shared import SHARED_PROCESSES, Timing

if TYPE_CHECKING:
    from hjem.postgres import PostgresCluster

__all__ = ["ingest_throughput"]


SHAPES = tuple(
    (int(p), int(m))
    for p, m in (
        s.split("x") for s in os.environ.get("HJEM_BENCH_INGEST", "1x20000,100x2000").split(",")
    )
)
"""(observations per message, messages); override with HJEM_BENCH_INGEST=1x20000,100x2000."""


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


def _raw_subscriber(port: int, messages: int, payloads: list[bytes], client_id: str) -> Timing:
    """Time a do-nothing paho QoS 1 subscriber takes to drain ``messages``."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    done = threading.Event()
    count = [0]
    first = [0.0]

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        del client, userdata, msg
        if not count[0]:
            first[0] = time.perf_counter()
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
    ended = time.perf_counter()
    client.disconnect()
    client.loop_stop()
    _forget_session(port, client_id)
    return Timing(ended - started, ended - first[0])


async def _hub(
    port: int,
    workdir: Path,
    observations: int,
    payloads: list[bytes],
    client_id: str,
) -> Timing:
    from hub.config import HttpSettings, HubSettings, MqttSettings
    from hub.service import Hub, HubEvent, StoredBatch

    settings = HubSettings(
        database=workdir / "hub.sqlite3",
        mqtt=MqttSettings(url=f"mqtt://127.0.0.1:{port}", client_id=client_id),
        http=HttpSettings(enabled=False),
    )
    children = _children_cpu()
    async with Hub(settings, alerts=False):
        pass  # creates the persistent session
    idle_relay = _children_cpu() - children  # a relay's start and stop, to leave out below
    await asyncio.to_thread(_publish, port, payloads)
    done = asyncio.Event()
    seen = [0]
    first: list[datetime] = []

    async def listener(event: HubEvent) -> None:
        if isinstance(event, StoredBatch):
            if not first:
                first.append(min(o.received for o in event.observations))
            seen[0] += len(event.observations)
            if seen[0] >= observations:
                done.set()

    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    hub = Hub(settings, alerts=False)
    hub.add_listener(listener)
    async with hub:
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - started
        steady = (datetime.now(UTC) - first[0]).total_seconds()
        cpu = time.process_time() - cpu
    relay_cpu = _children_cpu() - children - idle_relay  # reaped when the hub stopped
    await asyncio.to_thread(_forget_session, port, client_id)
    return Timing(elapsed, steady, cpu, relay_cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _relay_only(port: int, messages: int, payloads: list[bytes], client_id: str) -> Timing:
    """Time MqttConnection alone takes to drain ``messages`` (each batch acked at once)."""
    from hub.config import IngestSettings, MqttSettings
    from hub.ingest.verdicts import RELAY_JUDGE
    from hub.mqtt.connection import MqttConnection

    mqtt = MqttSettings(url=f"mqtt://127.0.0.1:{port}", client_id=client_id)
    ingest = IngestSettings()
    conn = MqttConnection(mqtt, ingest, judge=RELAY_JUDGE)  # the relay judges, as in the hub
    await conn.start()  # creates the persistent session
    conn.stop()
    await asyncio.to_thread(_publish, port, payloads)
    started = time.perf_counter()
    conn = MqttConnection(mqtt, ingest, judge=RELAY_JUDGE)
    await conn.start()
    seen, first = 0, 0.0
    try:
        async for group in conn.batches():
            first = first or time.perf_counter()
            conn.ack(group)
            seen += len(group)
            if seen >= messages:
                break
        ended = time.perf_counter()
    finally:
        conn.stop()
    await asyncio.to_thread(_forget_session, port, client_id)
    return Timing(ended - started, ended - first)


def _rate(messages: int, per_message: int, seconds: float) -> str:
    return f"{messages / seconds:>10,.0f} {per_message * messages / seconds:>10,.0f}"


def _report(
    per_message: int,
    messages: int,
    rows: list[tuple[str, Timing]],
    rounds: list[dict[str, Timing]],
) -> None:
    for name, t in rows:
        steady = _rate(messages, per_message, t.steady_s) if t.steady_s != t.drain_s else ""
        print(
            f"{per_message:>8} {messages:>9} {name:<24} {_rate(messages, per_message, t.drain_s)}"
            f"   {steady}"
        )
    times = dict(rows)
    for label, pick in (("drain", 0), ("steady", 1)):
        # Ratios within a round (same minute, same machine state), then their median.
        relay = statistics.median(r["raw paho"][pick] / r["relay only"][pick] for r in rounds)
        hub = statistics.median(r["raw paho"][pick] / r["hjem hub"][pick] for r in rounds)
        each = ", ".join(f"{r['raw paho'][pick] / r['hjem hub'][pick]:.2f}" for r in rounds)
        print(
            f"{'':>8} {'':>9} {label:<7}relay / raw {relay:>5.2f}   hub / raw {hub:.2f}"
            f"   (rounds: {each})"
        )
        if per_message == 1:
            verdict = "met" if hub >= 0.8 else "NOT met"
            print(
                f"{'':>8} {'':>9} {label:<7}target: hub >= 0.8 x raw paho at 1 obs/msg: {verdict}"
            )
    hub_cpu = statistics.median(r["hjem hub"].cpu_s for r in rounds)
    relay_cpu = statistics.median(r["hjem hub"].relay_cpu_s for r in rounds)
    per_obs = 1e6 / (per_message * messages)
    print(
        f"{'':>8} {'':>9} CPU per observation: hub {hub_cpu * per_obs:.1f} µs,"
        f" its relay {relay_cpu * per_obs:.1f} µs (medians; the relay's start left out)"
    )
    for line in cpu_lines(rows, per_message * messages):
        print(f"{'':>8} {'':>9} {line}")
    if per_message >= 100:
        targets = (("hjem hub", 50_000), (f"{SHARED_PROCESSES} hubs", 50_000), (PG_ROW, 30_000))
        for name, target in targets:
            if name in times:
                rates = [per_message * messages / s for s in times[name][:2]]
                verdicts = ["met" if r >= target else "NOT met" for r in rates]
                print(
                    f"{'':>8} {'':>9} target: >= {target:,} obs/s at 100 obs/msg ({name}):"
                    f" drain {rates[0]:,.0f} {verdicts[0]}, steady {rates[1]:,.0f} {verdicts[1]}"
                )


ROUNDS = int(os.environ.get("HJEM_BENCH_INGEST_ROUNDS", "3"))
"""Alternating rounds of raw paho, relay and hub: medians of the times and of the ratios."""


def _mqtt_round(
    port: int, root: Path, per_message: int, messages: int, index: int
) -> dict[str, Timing]:
    """One round: raw paho, relay only and hub, one after the other on fresh backlogs."""
    tag = f"{per_message}-{index}"
    raw = _raw_subscriber(
        port, messages, _payloads(f"raw{tag}", per_message, messages), f"raw-{tag}"
    )
    relay_payloads = _payloads(f"relay{tag}", per_message, messages)
    relay = asyncio.run(_relay_only(port, messages, relay_payloads, f"relay-{tag}"))
    work = root / f"hub-{tag}"
    work.mkdir()
    payloads = _payloads(f"hub{tag}", per_message, messages)
    hub = asyncio.run(_hub(port, work, per_message * messages, payloads, f"hub-{tag}"))
    return {"raw paho": raw, "relay only": relay, "hjem hub": hub}


def _median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.drain_s for t in timings),
        statistics.median(t.steady_s for t in timings),
    )


def _shape(
    port: int, root: Path, per_message: int, messages: int, cluster: PostgresCluster | None
) -> None:
    from bench.ingest_ceilings import accept_only, hub_part, store_only, validate_only
    from bench.ingest_postgres import postgres_rows
    from bench.ingest_shared import Spec, run_hubs

    rounds = [_mqtt_round(port, root, per_message, messages, r) for r in range(ROUNDS)]
    rows = [
        (name, _median([r[name] for r in rounds]))
        for name in ("raw paho", "relay only", "hjem hub")
    ]
    if cluster is not None:
        rows += postgres_rows(port, root, per_message, messages, cluster)
    work = root / f"ceilings-{per_message}"
    work.mkdir()
    payloads = _payloads(f"hub{per_message}", per_message, messages)
    if SHARED_PROCESSES > 1:
        shared = _payloads(f"shared{per_message}", per_message, messages)
        database = str(work / "shared.sqlite3")
        specs = [Spec(port, database, f"shared-{n}") for n in range(SHARED_PROCESSES)]
        rows.append((f"{SHARED_PROCESSES} hubs", run_hubs(specs, per_message * messages, shared)))
    for name, seconds in (
        ("fast path", accept_only(payloads)),
        ("validate", validate_only(payloads)),
        ("store", store_only(work, payloads, per_message)),
        *([("hub part", hub_part(work, payloads))] if per_message >= 100 else []),
    ):
        rows.append((name, Timing(seconds, seconds)))
    _report(per_message, messages, rows, rounds)


def ingest_throughput() -> None:
    from hjem.mosquitto import Mosquitto
    from hjem.postgres import PostgresCluster, server_bindir
    from hub.service import tune_gc

    tune_gc()  # as `hjem hub run` does

    print("backlog drained by each subscriber; Mosquitto on 127.0.0.1, same broker, same run;")
    print(f"raw paho, relay only and hjem hub: median of {ROUNDS} alternating rounds")
    print("drain: from the subscriber's start (connect; the hub's objects and relay process) to")
    print("the last message; steady: from the first message in the subscriber's hands")
    print("in-process ceilings on the hub's payloads, no MQTT:")
    print("fast path = hub.ingest.fastpath.accept,")
    print("validate = schemas.validation.validate_batch (models), store = the commits alone,")
    print("hub part = the hub process's share of messages its relay judged (verdicts, commit)")
    print(
        f"{'obs/msg':>8} {'messages':>9} {'subscriber':<12} {'msgs/s':>10} {'obs/s':>10}"
        f"   {'steady:':>10} {'obs/s':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        extra = ["max_inflight_messages 1000"]
        broker = stack.enter_context(Mosquitto(workdir=root / "mosquitto", extra=extra))
        cluster = None
        if server_bindir() is not None:
            cluster = stack.enter_context(PostgresCluster(durable=True))
        else:
            print(f"({PG_ROW}: left out, PostgreSQL is not installed)")
        for per_message, messages in SHAPES:
            _shape(broker.port, root, per_message, messages, cluster)
