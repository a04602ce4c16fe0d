"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests, the benchmarks and the demo.

Debian's ``postgresql`` package ships the server binaries under
``/usr/lib/postgresql/<major>/bin`` (not on ``PATH``); the newest major found is used.
``initdb`` and ``postgres`` refuse to run as root, so as root the cluster runs as the
``postgres`` account that the package creates (``nobody`` where there is none), in a fresh
directory under the system temporary directory that the account owns. The server listens on
a free loopback port only (no Unix socket outside that directory), requires a password over
TCP (scram-sha-256) and is stopped by its own PID: SIGINT is PostgreSQL's fast shutdown,
SIGQUIT its immediate one (as ``pg_ctl stop -m immediate``, which skips the checkpoint).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from hjem.mosquitto import free_port

__all__ = ["PostgresCluster", "server_bindir"]

SUPERUSER = "hjem"
"""The cluster's superuser (``initdb -U``); tests and benchmarks connect as it."""
START_TIMEOUT_S = 60.0


def server_bindir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: the newest Debian major, else ``PATH``."""
    majors = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if majors:
        return majors[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as (None: the current user, not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


@dataclass
class PostgresCluster:
    """One cluster: ``start()`` runs initdb (first time) and the server; ``stop()`` ends it.

    ``durable``: fsync and full-page writes on, as in production (the benchmarks); off, a
    crash of the machine may lose the cluster, which the tests throw away anyway.
    """

    durable: bool = False
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    root: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        bindir = server_bindir()
        if bindir is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
            )
        self.bindir = bindir
        self.account = _account()
        self.root = Path(tempfile.mkdtemp(prefix="hjem-pg-"))
        if self.account is not None:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` on this cluster, with the superuser's password."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _as_account(self) -> dict[str, Any]:
        """Popen's user, group and extra groups: the unprivileged account, or no change."""
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self.account is not None:
            os.chown(pwfile, self.account.pw_uid, self.account.pw_gid)
        command = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER]
        command += ["--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256"]
        command += ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
        done = subprocess.run(  # noqa: S603, PLW1510 - our arguments; outcome checked below
            command, capture_output=True, cwd=self.root, timeout=120, **self._as_account()
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.decode()[-2000:]}")

    def start(self) -> PostgresCluster:
        if not self.datadir.exists():
            self._initdb()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed binary, our arguments
                command,
                stdout=out,
                stderr=out,
                cwd=self.root,
                start_new_session=True,
                **self._as_account(),
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {self._log_tail()}")
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready: {self._log_tail()}") from None
                time.sleep(0.05)
            else:
                return

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server by its PID: ``fast`` (SIGINT) or ``immediate`` (SIGQUIT)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGINT if mode == "fast" else signal.SIGQUIT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)

    def remove(self) -> None:
        """Stop the server and delete the cluster's directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create database ``name`` (copied from ``template``); return its DSN."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
