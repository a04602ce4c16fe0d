"""Run ``hjem hub run --config FILE`` as a child process (stopped or killed by its PID)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub.db import open_db

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).parent / "hjem"
HJEM = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "import sys; from hjem.cli import main; sys.exit(main())"]
)
"""The ``hjem`` console script as installed, as a user runs it."""


def write_config(path: Path, database: Path, broker_url: str, client_id: str, **mqtt: str) -> Path:
    lines = [
        f'database = "{database}"',
        "[mqtt]",
        f'url = "{broker_url}"',
        f'client_id = "{client_id}"',
        *(f'{key} = "{value}"' for key, value in mqtt.items()),
        "[http]",
        "enabled = false",
        "[alerts]",
        "enabled = false",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class HubProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> HubProcess:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*HJEM, "hub", "run", "--config", str(self.config)],
                stdout=out,
                stderr=out,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "hub running" in self.log.read_text(errors="replace")[offset:]:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"hub did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else 0
        os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise

    def stored_reported(self) -> int:
        text = self.log.read_text(errors="replace")
        return sum(
            int(line.split("stored ")[1].split()[0])
            for line in text.splitlines()
            if "hub stopped: stored" in line
        )


def table_counts(database: Path) -> dict[str, int]:
    conn = open_db(database)
    try:
        return {
            "observation": conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0],
            "distinct": conn.execute("SELECT COUNT(DISTINCT id) FROM observation").fetchone()[0],
            "sample": conn.execute(  # numeric values: own values and components
                "SELECT (SELECT COUNT(*) FROM observation WHERE value IS NOT NULL)"
                " + (SELECT COUNT(*) FROM sample)"
            ).fetchone()[0],
            "rollup_5min": conn.execute(
                "SELECT COALESCE(SUM(n), 0) FROM rollup WHERE width_s = 300"
            ).fetchone()[0],
            "stored_counter": (
                conn.execute(
                    "SELECT value FROM counter WHERE name = 'observations_stored'"
                ).fetchone()
                or (0,)
            )[0],
        }
    finally:
        conn.close()


def stored_ids(database: Path) -> set[str]:
    conn = open_db(database)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM observation")}
    finally:
        conn.close()


def count_when_ready(database: Path) -> int:
    if not database.exists():
        return 0
    conn = open_db(database)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "observation" not in tables:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM observation").fetchone()[0])
    finally:
        conn.close()
