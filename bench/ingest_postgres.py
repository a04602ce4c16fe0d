"""The PostgreSQL rows of ``hjem bench ingest``: hub processes storing into PostgreSQL.

Four rows per shape, each on a fresh database of the cluster the benchmark started (fsync on,
``synchronous_commit`` on: a message is acknowledged only after its commit is on disk):

* ``hub postgresql`` and ``hub postgresql alerts``: one hub process, alerts off and on;
* ``2 hubs postgresql`` and ``2 hubs postgresql alerts``: ``HJEM_BENCH_INGEST_PROCESSES``
  hub processes on one MQTT 5 shared subscription, alerts off and on (one of them leads
  alert evaluation, :mod:`hub.leadership`).

Every hub process is a child (:mod:`bench.ingest_shared`) started before the timed drain.
The benchmark's 20 devices belong to 20 residents bound to the benchmark's gateway in every
PostgreSQL row, so that with alerts on the rules of ``deploy/alerts.example.toml`` (not
published on MQTT) evaluate each observation for its resident; the readings are normal
(36.6 °C), so none fires. A row with alerts is timed until every observation is stored (the
table's figure) and, on a line of its own, until the alert engine's feed position reached the
last one. CPU per observation for the hub process(es), their relay processes and the
PostgreSQL server over the drain comes from ``/proc``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.ingest_shared import SHARED_PROCESSES, Spec, Timing, run_hubs

if TYPE_CHECKING:
    from hjem.postgres import PostgresCluster

__all__ = ["PG_ROW", "cpu_lines", "postgres_rows", "register"]

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "alerts.example.toml"
PG_ROW = "hub postgresql"
"""The row of one hub process storing into PostgreSQL, alerts off (the 30,000 obs/s target)."""


def _rows() -> list[tuple[str, int, bool]]:
    rows = [(PG_ROW, 1, False), (f"{PG_ROW} alerts", 1, True)]
    if SHARED_PROCESSES > 1:
        name = f"{SHARED_PROCESSES} hubs postgresql"
        rows += [(name, SHARED_PROCESSES, False), (f"{name} alerts", SHARED_PROCESSES, True)]
    return rows


def register(dsn: str, devices: list[str]) -> list[str]:
    """A resident for each device, bound to the benchmark's gateway (gw-bench): their ids."""
    from pydantic import SecretStr

    from hub.config import PostgresSettings
    from hub.registry.core import Registry
    from hub.store.postgresql_conn import PgConnection

    conn = PgConnection(PostgresSettings(dsn=SecretStr(dsn)))
    residents = []
    try:
        registry = Registry(conn)
        start = datetime.now(UTC) - timedelta(days=30)
        registry.add_organisation("org-bench", "Bench")
        registry.add_team("team-bench", "org-bench", "Bench team")
        registry.add_publisher("gw-bench", "gateway")
        for index, device in enumerate(devices):
            registry.add_home(f"h-{index}", f"Home {index}", team_id="team-bench")
            resident = registry.add_resident(f"Resident {index}", f"h-{index}")
            registry.add_device(device, "bedroom")
            registry.assign(device, resident.id, start)
            registry.bind(device, "gw-bench", start)
            residents.append(resident.id)
    finally:
        conn.close()
    return residents


def postgres_rows(
    port: int, root: Path, per_message: int, messages: int, cluster: PostgresCluster
) -> list[tuple[str, Timing]]:
    """Each PostgreSQL row once, on a fresh database and a fresh backlog."""
    from bench.ingest import DEVICES, _payloads

    out = []
    for index, (name, processes, alerts) in enumerate(_rows()):
        prefix = f"pg{per_message}-{index}"
        dsn = cluster.create_database(f"bench_{per_message}_{index}")
        register(dsn, [f"dev-{prefix}-{d}" for d in range(DEVICES)])
        work = root / f"hub-{prefix}"
        work.mkdir()
        specs = [
            Spec(
                port,
                str(work / f"hub-{n}.sqlite3"),
                f"hub-{prefix}-{n}",
                dsn=dsn,
                rules=str(RULES) if alerts else "",
                shared=processes > 1,
            )
            for n in range(processes)
        ]
        payloads = _payloads(prefix, per_message, messages)
        assert cluster.process is not None
        timing = run_hubs(specs, per_message * messages, payloads, cluster.process.pid)
        out.append((name, timing))
        cluster.drop_database(f"bench_{per_message}_{index}")
    return out


def cpu_lines(rows: list[tuple[str, Timing]], observations: int) -> list[str]:
    """CPU per observation of the PostgreSQL rows, and when alerts evaluated the last one."""
    per_obs = 1e6 / observations
    lines = []
    for name, t in rows:
        if not t.server_cpu_s:
            continue
        lines.append(
            f"CPU per observation, {name}: hub {t.cpu_s * per_obs:.1f} µs, relay"
            f" {t.relay_cpu_s * per_obs:.1f} µs, PostgreSQL {t.server_cpu_s * per_obs:.1f} µs"
        )
        if t.evaluated_s:
            lines.append(
                f"alerts evaluated, {name}: the last observation {t.evaluated_s:.2f} s after the"
                f" start ({observations / t.evaluated_s:,.0f} obs/s)"
            )
    return lines
