"""Benchmarks of the edge agent: ``hjem bench agent`` and ``hjem bench outbox``.

* ``agent``: CPU and peak RSS of the agent with 50 virtual devices advertising once per
  second, next to the virtual radio alone (the simulation's own cost), each measured in a
  fresh child process over the same duration.
* ``outbox``: drain rate of a backlog of 100,000 observations into Mosquitto (QoS 1, rows
  deleted after PUBACK), next to a plain paho QoS 1 publisher sending the same batches, and
  paho sending one message per observation, in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["agent", "outbox"]

BACKLOG = int(os.environ.get("HJEM_BENCH_OUTBOX", "100000"))
"""Observations in the outbox benchmark's backlog (HJEM_BENCH_OUTBOX; the suite's smoke run)."""
CHECKOUT = Path(__file__).resolve().parents[1]
"""The source checkout that holds ``bench/``."""

AGENT_SECONDS = float(os.environ.get("HJEM_BENCH_AGENT_SECONDS", "30"))
_MIX = (
    ("bthome",) * 15
    + ("ruuvi",) * 12
    + ("xiaomi",) * 15
    + (
        "heart_rate",
        "thermometer",
        "blood_pressure",
        "weight_scale",
        "pulse_oximeter",
        "glucose",
        "heart_rate",
        "thermometer",
    )
)


def _devices() -> list[dict[str, object]]:
    return [
        {"address": f"C1:00:00:00:{n // 256:02X}:{n % 256:02X}", "kind": k}
        for n, k in enumerate(_MIX)
    ]


def _config(workdir: Path, port: int) -> dict[str, Any]:
    return {
        "gateway_id": "bench",
        "radio": "virtual",
        "heartbeat_interval_s": 10,
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}"},
        "outbox": {"path": str(workdir / "outbox.sqlite")},
        "virtual": {"advert_interval_s": 1.0, "measurement_interval_s": 5.0},
        "gatt": {"max_connections": 3},
        "devices": _devices(),
    }


async def _radio_only(config: Any, seconds: float) -> dict[str, float]:
    from bleak import BleakScanner

    from sim.backend import VirtualScanner
    from sim.radio import VirtualRadio

    count = [0]

    def on_advert(_d: object, _a: object) -> None:
        count[0] += 1

    async with VirtualRadio(config.virtual, config.devices) as radio:
        scanner = BleakScanner(
            on_advert, scanning_mode="passive", backend=VirtualScanner, virtual_radio=radio
        )
        await scanner.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        await scanner.stop()
    return {"cpu_s": cpu, "wall_s": wall, "adverts": count[0]}


async def _full_agent(config: Any, seconds: float) -> dict[str, float]:
    from edge.agent import Agent

    async with Agent(config) as agent:
        await asyncio.sleep(2)  # let connections settle
        cpu0, t0, obs0 = time.process_time(), time.perf_counter(), agent.observations
        adverts0 = sum(s.adverts for s in agent.scanners.values())
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        return {
            "cpu_s": cpu,
            "wall_s": wall,
            "adverts": sum(s.adverts for s in agent.scanners.values()) - adverts0,
            "observations": agent.observations - obs0,
            "published": agent.publisher.stats.published_observations,
            "depth": agent.outbox.depth,
        }


def phase(kind: str, workdir: str, port: int, seconds: float) -> None:
    """One measured phase in this (fresh) process; prints JSON."""
    import logging

    from edge.config import parse_config

    logging.basicConfig(level=logging.ERROR)
    config = parse_config(_config(Path(workdir), port))
    runner = _radio_only if kind == "radio" else _full_agent
    result = asyncio.run(runner(config, seconds))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run_phase(kind: str, workdir: Path, port: int, seconds: float) -> dict[str, float]:
    """One phase in a fresh process. A phase that does not end is an error, not retried: the
    agent once hung at its stop (a cancellation dropped on Python 3.11, see edge/gatt.py and
    edge/publisher.py), and such a hang is a bug to see."""
    code = f"from bench.agent import phase; phase({kind!r}, {str(workdir)!r}, {port}, {seconds})"
    try:
        out = subprocess.run(  # noqa: S603 - this interpreter, fixed code
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds * 4 + 60,
            cwd=CHECKOUT,  # where `bench` is importable from
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"bench agent: the {kind} phase did not end ({exc})") from exc
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def agent() -> None:
    from hjem.mosquitto import Mosquitto

    seconds = AGENT_SECONDS
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(workdir=Path(tmp) / "mq") as broker:
        radio = _run_phase("radio", Path(tmp) / "r", broker.port, seconds)
        full = _run_phase("agent", Path(tmp) / "a", broker.port, seconds)
    print(
        f"50 virtual devices advertising once per second, {seconds:.0f} s per phase, 2-core machine"
    )
    print(f"{'':34} {'CPU %':>7} {'peak RSS MB':>12} {'adverts/s':>10} {'obs/s':>8}")
    for name, r in (("virtual radio alone (simulation)", radio), ("agent + virtual radio", full)):
        print(
            f"{name:34} {100 * r['cpu_s'] / r['wall_s']:7.1f} {r['peak_rss_mb']:12.1f} "
            f"{r['adverts'] / r['wall_s']:10.1f} {r.get('observations', 0) / r['wall_s']:8.1f}"
        )
    agent_only = 100 * (full["cpu_s"] / full["wall_s"] - radio["cpu_s"] / radio["wall_s"])
    print(f"{'agent alone (difference)':34} {agent_only:7.1f}")
    print(f"published {full['published']:.0f} observations; outbox depth at the end", end=" ")
    print(f"{full['depth']:.0f}")


# -- outbox ----------------------------------------------------------------------------------


def _fill(path: Path, count: int) -> list[bytes]:
    from datetime import UTC, datetime

    from edge.outbox import Outbox, StoredItem
    from schemas.builders import make_observation
    from schemas.models import DeviceInfo, Source, encode

    source = Source(publisher="bench", gateway="bench", device=DeviceInfo(id="ble-c10000000001"))
    template = make_observation(
        "room_temperature",
        source=source,
        effective=datetime.now(UTC),
        value="21.50",
        raw={"format": "adv:bthome-v2", "data": "40000102ca08"},
    )
    body = encode(template)
    bodies = [body.replace(template.id.encode(), f"bench{n:021d}".encode()) for n in range(count)]
    with Outbox(path, 10**10) as box:
        for start in range(0, count, 10_000):
            box.put(
                StoredItem(f"bench{n:021d}", vital=False, body=bodies[n])
                for n in range(start, min(count, start + 10_000))
            )
    return bodies


async def _drain(path: Path, port: int) -> tuple[float, int]:
    from datetime import UTC, datetime

    from edge.config import parse_config
    from edge.outbox import Outbox
    from edge.publisher import Publisher
    from schemas.models import GatewayStatus, StatusKind

    config = parse_config(
        {
            "gateway_id": "bench",
            "outbox": {"path": str(path)},
            "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "batch_linger_s": 0},
        }
    )

    def status(kind: StatusKind) -> GatewayStatus:
        return GatewayStatus(publisher="bench", kind=kind, online=True, time=datetime.now(UTC))

    with Outbox(path, 10**10) as box:
        publisher = Publisher(config, box, status)
        started = time.perf_counter()
        task = asyncio.create_task(publisher.run())
        publisher.wake()
        while box.depth:  # noqa: ASYNC110 - polling a figure, no event to wait on
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        task.cancel()
        return elapsed, publisher.stats.published_messages


def _paho(port: int, payloads: list[bytes]) -> float:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho")
    client.max_inflight_messages_set(64)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    infos = []
    done = 0
    for payload in payloads:  # a window of 128 outstanding (paho rescans its queue per PUBACK)
        infos.append(client.publish("hjem/v1/bench/obs", payload, qos=1))
        if len(infos) - done > 128:
            infos[done].wait_for_publish(60)
            done += 1
    for info in infos[done:]:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return elapsed


def _subscriber(port: int) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = {"messages": 0}
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
    sub.on_message = lambda _c, _u, _m: received.__setitem__("messages", received["messages"] + 1)
    sub.connect("127.0.0.1", port)
    sub.subscribe("hjem/v1/bench/obs", qos=1)
    sub.loop_start()
    return sub, received


def outbox() -> None:
    from datetime import UTC, datetime

    from edge.outbox import OutboxRow
    from edge.publisher import batch_envelope, split_batches
    from hjem.mosquitto import Mosquitto

    with tempfile.TemporaryDirectory() as tmp, Mosquitto(workdir=Path(tmp) / "mq") as broker:
        t0 = time.perf_counter()
        bodies = _fill(Path(tmp) / "outbox.sqlite", BACKLOG)
        fill_s = time.perf_counter() - t0
        size = (Path(tmp) / "outbox.sqlite").stat().st_size
        sub, received = _subscriber(broker.port)
        drain_s, messages = asyncio.run(_drain(Path(tmp) / "outbox.sqlite", broker.port))
        rows = [OutboxRow(n, b) for n, b in enumerate(bodies)]
        payloads = [
            batch_envelope("bench", f"m{n}", datetime.now(UTC), [r.body for r in batch])
            for n, batch in enumerate(split_batches(rows, 200))
        ]
        paho_batch_s = _paho(broker.port, payloads)
        singles = [
            batch_envelope("bench", f"s{n}", datetime.now(UTC), [b]) for n, b in enumerate(bodies)
        ]
        paho_single_s = _paho(broker.port, singles)
        time.sleep(1)
        sub.loop_stop()
        sub.disconnect()
    print(
        f"backlog {BACKLOG:,} observations ({len(bodies[0])} bytes each), outbox on disk "
        f"{size / 1e6:.1f} MB, filled in {fill_s:.1f} s ({BACKLOG / fill_s:,.0f} obs/s stored)"
    )
    print(f"{'':52} {'seconds':>8} {'obs/s':>10}")
    figures = (
        ("Hjem outbox -> Mosquitto (QoS 1, delete after PUBACK)", drain_s),
        ("paho QoS 1, same batches of 200 (no disk)", paho_batch_s),
    )
    for label, seconds in figures:
        print(f"{label:52} {seconds:8.2f} {BACKLOG / seconds:10,.0f}")
    print(f"  (the outbox sent {messages} messages of at most 200 observations)")
    print(
        f"{'paho QoS 1, one message per observation (no disk)':52} {paho_single_s:8.2f} "
        f"{BACKLOG / paho_single_s:10,.0f}"
    )
    print(f"a QoS 1 subscriber received {received['messages']:,} messages in all")
