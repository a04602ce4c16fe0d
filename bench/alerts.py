"""``hjem bench alerts``: latency from an observation published on MQTT to its alert event on
the hub's live stream (SSE), with 1,000 observations/s of background traffic.

A real Mosquitto and the hub (``hjem hub run``, a child process with the alert rules of
``deploy/alerts.example.toml``) run on this machine. A probe resident's SpO2 alternates
between 85 % and 97 %, so every probe makes one alert state change (fire, clear, fire, ...).
Side by side, the peer floor measured in the same run: the same probe message relayed by
Mosquitto to a plain MQTT subscriber (what any MQTT-based alerting pays at least).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["latency"]

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "alerts.example.toml"
GATEWAYS = 20
BATCHES_PER_SECOND = 5
OBSERVATIONS_PER_BATCH = 10  # 20 gateways x 5 batches/s x 10 = 1,000 observations/s
PROBES = int(os.environ.get("HJEM_BENCH_ALERTS_PROBES", "200"))
"""Probe observations timed (HJEM_BENCH_ALERTS_PROBES; the suite's smoke run uses a few)."""
RESIDENTS = 40


def _prepare(workdir: Path, broker_url: str, port: int) -> tuple[Path, str, list[str]]:
    from foundation.clock import utcnow
    from hub.auth import Role, UserStore
    from hub.db import open_db
    from hub.registry.core import Registry

    rules = workdir / "alerts.toml"
    rules.write_text(RULES.read_text().replace("pending_seconds = 300", "pending_seconds = 0"))
    database = workdir / "hub.sqlite3"
    conn = open_db(database)
    registry = Registry(conn)
    registry.add_organisation("org-bench", "Bench")
    registry.add_team("team-bench", "org-bench", "Bench team")
    start = datetime.now(UTC) - timedelta(days=1)
    residents = []
    for gateway in [*(f"gw-{g}" for g in range(GATEWAYS)), "probe-gw"]:
        registry.add_publisher(gateway, "gateway")
    for index in range(RESIDENTS + 1):
        registry.add_home(f"h-{index}", f"Home {index}", team_id="team-bench")
        resident = registry.add_resident(f"Resident {index}", f"h-{index}")
        residents.append(resident.id)
        for kind in ("ox", "th"):
            registry.add_device(f"{kind}-{index}", "living room")
            registry.assign(f"{kind}-{index}", resident.id, start)
            registry.bind(f"{kind}-{index}", _gateway_of(index), start)
    users = UserStore(conn, utcnow)
    user = users.create_user("bench", "bench password of the alerts", Role.ADMIN, None)
    token = users.issue_token(user.id, "bench")
    conn.close()
    config = workdir / "hub.toml"
    config.write_text(
        f'database = "{database}"\n[mqtt]\nurl = "{broker_url}"\nclient_id = "hub-bench"\n'
        f'[http]\nport = {port}\n[ingest]\nsqlite_synchronous = "normal"\n'
        f'[alerts]\nrules_file = "{rules}"\n',
        encoding="utf-8",
    )
    return config, token, residents


def _gateway_of(index: int) -> str:
    """The gateway bound to resident ``index``'s devices (resident 0: the probe's)."""
    return "probe-gw" if index == 0 else f"gw-{index % GATEWAYS}"


def _batches(seconds: float) -> list[tuple[str, bytes]]:
    """Pre-encoded background batches (normal readings, so no alerts)."""
    from schemas.builders import make_observation
    from schemas.models import Batch, DeviceInfo, Source, encode

    now = datetime.now(UTC)
    out = []
    count = int(seconds * BATCHES_PER_SECOND) * GATEWAYS
    served = {g: [i for i in range(1, RESIDENTS + 1) if i % GATEWAYS == g] for g in range(GATEWAYS)}
    for n in range(count):
        publisher = f"gw-{n % GATEWAYS}"
        observations = []
        for k in range(OBSERVATIONS_PER_BATCH):
            mine = served[n % GATEWAYS]  # the residents whose devices this gateway reads
            index = mine[(k // 2) % len(mine)]
            key, device, value = (
                ("spo2", f"ox-{index}", "97")
                if k % 2
                else ("room_temperature", f"th-{index}", "21.5")
            )
            source = Source(publisher=publisher, device=DeviceInfo(id=device))
            observations.append(
                make_observation(
                    key, source=source, effective=now, instant=f"b{n}.{k}", value=value
                )
            )
        batch = Batch(
            message_id=f"bg-{n}", publisher=publisher, sent=now, observations=observations
        )
        out.append((f"hjem/v1/{publisher}/obs", encode(batch)))
    return out


def _probe(index: int) -> bytes:
    from schemas.builders import make_observation
    from schemas.models import Batch, DeviceInfo, Source, encode

    now = datetime.now(UTC)
    source = Source(publisher="probe-gw", device=DeviceInfo(id="ox-0"))
    value = "85" if index % 2 == 0 else "97"
    obs = make_observation("spo2", source=source, effective=now, instant=f"p{index}", value=value)
    return encode(
        Batch(message_id=f"probe-{index}", publisher="probe-gw", sent=now, observations=[obs])
    )


async def _background(
    port: int, batches: list[tuple[str, bytes]], stop: asyncio.Event
) -> tuple[int, float]:
    import aiomqtt

    sent = 0
    interval = 1.0 / (BATCHES_PER_SECOND * GATEWAYS)
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-background") as client:
        started = time.perf_counter()
        for topic, payload in batches:
            if stop.is_set():
                break
            await client.publish(topic, payload, qos=1)
            sent += 1
            delay = started + sent * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elapsed = time.perf_counter() - started
    return sent * OBSERVATIONS_PER_BATCH, elapsed


async def _measure(
    mqtt_port: int, http_port: int, token: str
) -> tuple[list[float], list[float], tuple[int, float]]:
    import aiomqtt
    import httpx

    hub_ms: list[float] = []
    floor_ms: list[float] = []
    stop = asyncio.Event()
    batches = _batches(PROBES * 0.2 + 30)
    floor_seen: dict[int, float] = {}
    url = f"http://127.0.0.1:{http_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=url, trust_env=False, timeout=30) as http,
        http.stream("GET", "/api/v1/alerts/stream", headers=headers) as stream,
        aiomqtt.Client("127.0.0.1", mqtt_port, identifier="bench-probe") as probe,
        aiomqtt.Client("127.0.0.1", mqtt_port, identifier="bench-floor") as floor,
        asyncio.TaskGroup() as tg,
    ):
        await floor.subscribe("hjem/v1/probe-gw/obs", qos=1)

        async def read_floor() -> None:
            async for message in floor.messages:
                payload = message.payload
                if isinstance(payload, bytes):
                    floor_seen[int(payload.split(b'"probe-', 1)[1].split(b'"', 1)[0])] = (
                        time.perf_counter()
                    )

        floor_task = tg.create_task(read_floor(), name="bench-floor")
        load = tg.create_task(_background(mqtt_port, batches, stop), name="bench-background")
        lines = stream.aiter_lines()
        await asyncio.sleep(2.0)  # let the background load settle
        for index in range(PROBES):
            sent = time.perf_counter()
            await probe.publish("hjem/v1/probe-gw/obs", _probe(index), qos=1)
            async for line in lines:
                if line.startswith("data: ") and '"rule":"spo2-low"' in line:
                    break
            hub_ms.append((time.perf_counter() - sent) * 1000)
            if index in floor_seen:
                floor_ms.append((floor_seen[index] - sent) * 1000)
            await asyncio.sleep(0.05 + (index % 7) * 0.02)
        stop.set()
        background_obs = await load
        floor_task.cancel()
    return hub_ms, floor_ms, background_obs


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency() -> None:
    from hjem.mosquitto import Mosquitto, free_port

    with (
        tempfile.TemporaryDirectory(prefix="hjem-bench-alerts-") as tmp,
        Mosquitto(workdir=Path(tmp) / "mqtt") as broker,
    ):
        http_port = free_port()
        config, token, _ = _prepare(Path(tmp), broker.url, http_port)
        log = Path(tmp) / "hub.log"
        hjem = Path(sys.executable).parent / "hjem"
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own console script
                [str(hjem), "hub", "run", "--config", str(config)], stdout=out, stderr=out, cwd=ROOT
            )
        try:
            deadline = time.monotonic() + 60
            while "hub running" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hub did not start: {log.read_text()[-1500:]}")
                time.sleep(0.05)
            cpu_before = _cpu_seconds(proc.pid)
            hub_ms, floor_ms, (background, elapsed) = asyncio.run(
                _measure(broker.port, http_port, token)
            )
            hub_cpu = _cpu_seconds(proc.pid) - cpu_before
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                print("hub did not stop in 30 s after SIGTERM; killed it. Log tail:")
                print(log.read_text(errors="replace")[-3000:])
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        hub_log = log.read_text(errors="replace")
    lags = [line for line in hub_log.splitlines() if "alert input lags" in line]
    print(f"hub log: {len(lags)} warnings of observations reaching the rules > 1 s after arrival")
    for line in lags[:5]:
        print(f"  {line[:160]}")
    rate = background / elapsed
    print(
        f"background: {background} observations in {elapsed:.1f} s ({rate:.0f}/s), "
        f"{GATEWAYS} gateways"
    )
    print(
        f"hub process CPU: {hub_cpu:.1f} s, {hub_cpu / max(background, 1) * 1e6:.0f} µs per "
        f"observation (ingest + alerts + API), {hub_cpu / elapsed:.0%} of one core"
    )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'path':<44} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (
        ("hub: MQTT obs -> ingest -> rule -> SSE event", hub_ms),
        ("peer floor: MQTT obs -> plain subscriber", floor_ms),
    ):
        print(
            f"{name:<44} {len(values):>4} {statistics.median(values):>8.1f} "
            f"{_pct(values, 0.99):>8.1f} {max(values):>8.1f}"
        )
    with tempfile.TemporaryDirectory(prefix="hjem-bench-alerts-engine-") as tmp:
        engine_ms = asyncio.run(_engine_only(Path(tmp)))
    print(
        f"{'alerts only: engine input -> SSE event':<44} {len(engine_ms):>4} "
        f"{statistics.median(engine_ms):>8.1f} {_pct(engine_ms, 0.99):>8.1f} "
        f"{max(engine_ms):>8.1f}"
    )
    print("target: hub p99 <= 250 ms")


def _engine_app(workdir: Path) -> tuple[Any, Any, Any, str, Any]:
    """An engine, its (not yet started) service and an app with the alerts API."""
    from fastapi import FastAPI

    from foundation.clock import utcnow
    from hub.alerts.api import install_alerts, router
    from hub.alerts.config import parse_rules
    from hub.alerts.engine import AlertEngine
    from hub.alerts.service import AlertService
    from hub.alerts.settings import AlertSettings
    from hub.alerts.store import AlertStore
    from hub.auth import Authenticator, LoginThrottle, Role, UserStore, fast_hasher, install_auth
    from hub.db import open_db

    conn = open_db(workdir / "engine.sqlite3", synchronous="normal")
    clock = utcnow
    rules = parse_rules(RULES.read_text().replace("pending_seconds = 300", "pending_seconds = 0"))
    engine = AlertEngine(rules, AlertStore(conn), clock)
    users = UserStore(conn, clock, fast_hasher())
    bench_admin = users.create_user("b", "bench password of the alerts", Role.ADMIN, None)
    token = users.issue_token(bench_admin.id, "b")
    service = AlertService(engine, AlertSettings(mqtt=False))
    app = FastAPI()
    install_auth(app, Authenticator(users, LoginThrottle(clock)))
    install_alerts(app, service)
    app.include_router(router)
    return engine, service, app, token, conn


async def _engine_only(workdir: Path) -> list[float]:
    """Engine input -> SSE event over a real uvicorn server, same rules, same background."""
    import httpx
    import uvicorn

    from hjem.mosquitto import free_port
    from hub.alerts.inputs import ObservationInput
    from schemas.models import Batch

    engine, service, app, token, conn = _engine_app(workdir)
    background = [
        [ObservationInput(o, f"r-{o.source.device.id.split('-')[1]}", None, "org") for o in
         Batch.model_validate_json(p).observations]
        for _, p in _batches(PROBES * 0.15 + 10)
    ]  # fmt: skip
    latencies: list[float] = []
    async with service:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(), name="bench-uvicorn")
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        stop = asyncio.Event()

        async def load() -> None:
            interval = 1.0 / (BATCHES_PER_SECOND * GATEWAYS)
            started = time.perf_counter()
            for n, items in enumerate(background):
                if stop.is_set():
                    return
                engine.observe(items)
                delay = started + (n + 1) * interval - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))

        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http,
            http.stream("GET", "/api/v1/alerts/stream", headers=headers) as stream,
        ):
            loader = asyncio.create_task(load(), name="bench-load")
            lines = stream.aiter_lines()
            for index in range(PROBES):
                probe = Batch.model_validate_json(_probe(index)).observations[0]
                sent = time.perf_counter()
                engine.observe([ObservationInput(probe, "r-0", None, "org")])
                async for line in lines:
                    if line.startswith("data: ") and '"rule":"spo2-low"' in line:
                        break
                latencies.append((time.perf_counter() - sent) * 1000)
                await asyncio.sleep(0.05)
            stop.set()
            await loader
        server.should_exit = True
        await serving
    conn.close()
    return latencies
