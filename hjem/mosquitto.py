"""Run a real Mosquitto broker as a child process on 127.0.0.1 (tests and the demo).

The broker gets a generated configuration in its own directory, listens on a free loopback
port, and is stopped by its own PID. Production brokers use ``deploy/mosquitto/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from foundation.process import die_with_parent

__all__ = ["BrokerError", "Mosquitto", "die_with_parent", "free_port", "wait_for_port"]

DEFAULT_MAX_QUEUED = 1_000_000
"""Queue this many QoS 1 messages per offline persistent subscriber (Mosquitto's default is
1000, beyond which it silently drops them)."""


class BrokerError(RuntimeError):
    """The broker could not be started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")


@dataclass
class Mosquitto:
    """A Mosquitto child process. Use as a context manager, or call start() and stop()."""

    workdir: Path
    port: int = 0
    max_queued_messages: int = DEFAULT_MAX_QUEUED
    allow_anonymous: bool = True
    password_file: Path | None = None
    acl_file: Path | None = None
    persistence: bool = True
    extra: list[str] = field(default_factory=list)
    config_text: str | None = None  # a complete configuration, used as given
    die_with_parent: bool = False  # SIGTERM the broker if this process dies (the demo)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def render_config(self) -> str:
        if self.config_text is not None:
            return self.config_text
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 100",
            "message_size_limit 262144",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0 and not any(line.startswith("user ") for line in self.extra):
            # As root, Mosquitto switches to the `mosquitto` user, which cannot write its
            # persistence file into a root-owned private directory (the tests' tmp_path):
            # queued messages would not survive a broker restart. Keep the invoking user.
            lines.append("user root")
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        return "\n".join([*lines, *self.extra]) + "\n"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.render_config(), encoding="utf-8")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, generated config
            [mosquitto_binary(), "-c", str(conf)],
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
        )
        log.close()
        try:
            wait_for_port(self.port, timeout)
        except BrokerError as exc:
            code = self.process.poll()
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-800:]
            raise BrokerError(f"mosquitto did not start (exit {code}): {tail.strip()}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker by its PID (SIGTERM, then SIGKILL); persistence is saved."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the broker (a crash: nothing is saved beyond the last autosave)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
