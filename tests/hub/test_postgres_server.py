"""The suite's PostgreSQL (hjem.postgres): unprivileged, loopback only, password over TCP,
stopped by its PID, its directory removed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest

from hjem.postgres import PostgresCluster
from tests.support.postgres import own_cluster

pytestmark = pytest.mark.postgresql


def test_the_session_cluster_runs_unprivileged_on_loopback(
    postgres_cluster: PostgresCluster, postgres_dsn: str
) -> None:
    assert postgres_cluster.process is not None
    owner = Path(f"/proc/{postgres_cluster.process.pid}").stat().st_uid
    assert owner != 0
    assert owner == os.geteuid() or os.geteuid() == 0
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute(
            "SELECT current_setting('listen_addresses'), current_database()"
        ).fetchone()
    assert row is not None
    assert row[0] == "127.0.0.1"
    assert postgres_dsn.endswith(f"/{row[1]}")
    wrong = postgres_dsn.replace(postgres_cluster.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_a_cluster_is_stopped_by_its_pid_and_its_directory_removed() -> None:
    cluster = own_cluster()
    assert cluster.process is not None
    pid, port, root = cluster.process.pid, cluster.port, cluster.root
    cluster.stop("immediate")
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    cluster.start()  # the same data directory comes back (crash recovery after immediate)
    with psycopg.connect(cluster.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    cluster.remove()
    assert not root.exists()
