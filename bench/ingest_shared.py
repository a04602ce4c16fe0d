"""The scale-out row of ``hjem bench ingest``: hub processes on one MQTT 5 shared subscription.

``HJEM_BENCH_INGEST_PROCESSES`` (default 2) processes, each ``python -m bench.ingest_shared``,
share one subscription (``$share/bench/...``) and one database file; the row is timed until
the database holds every observation.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["SHARED_PROCESSES", "Timing", "shared_hubs"]


class Timing(NamedTuple):
    """Seconds from the subscriber's start (connect; for the hub, the process objects) to the
    last message handled, and from the first message in hand to the last (steady state)."""

    drain_s: float
    steady_s: float
    cpu_s: float = 0.0
    """CPU seconds of the subscriber's own process during the drain (the hub row only)."""
    relay_cpu_s: float = 0.0
    """CPU seconds of its relay process, start to exit (the hub row only)."""


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


def shared_hubs(port: int, workdir: Path, observations: int, payloads: list[bytes]) -> Timing:
    """Time ``SHARED_PROCESSES`` hub processes on one shared subscription take to store all."""
    import sqlite3
    import subprocess
    import sys

    from hjem.mosquitto import die_with_parent

    database = workdir / "shared.sqlite3"

    def child(index: int, mode: str) -> subprocess.Popen[bytes]:
        args = [str(port), str(database), f"shared-{index}", mode]
        return subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "bench.ingest_shared", *args],
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],  # the checkout: `bench` is importable there
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
        )

    for index in range(SHARED_PROCESSES):  # create the sessions, one after the other
        if child(index, "once").wait(60) != 0:
            raise RuntimeError("a hub process of the scale-out row failed to start")
    from bench.ingest import _forget_session, _publish

    _publish(port, payloads)
    started = time.perf_counter()
    procs = [child(index, "stay") for index in range(SHARED_PROCESSES)]
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        while conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0] < observations:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        first_us = conn.execute("SELECT MIN(received_us) FROM observation").fetchone()[0]
        steady = time.time() - first_us / 1e6
        conn.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    for index in range(SHARED_PROCESSES):
        _forget_session(port, f"shared-{index}")
    return Timing(elapsed, steady)


if __name__ == "__main__":  # a hub process of the scale-out row (see shared_hubs)
    import sys

    _port, _database, _client, _mode = sys.argv[1:5]
    asyncio.run(_run_child(int(_port), Path(_database), _client, stay=_mode == "stay"))
