"""Child processes of ``hjem demo``: start, wait until ready, watch, stop in order.

:class:`ChildProcesses` is an async context manager that owns a TaskGroup with one named
task per child (``watch-<name>``) waiting for it to exit. A child that exits while the demo
is not stopping is reported by :meth:`ChildProcesses.wait` as :class:`ChildExitedError`.
Leaving the context stops the children in reverse start order (SIGTERM, then SIGKILL after a
timeout), each by its own PID. Every child runs in its own session (a terminal's Ctrl-C reaches
only the demo, which stops them in order) and gets SIGTERM if the demo process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from foundation.process import die_with_parent
from foundation.waiting import wait_for

__all__ = [
    "Child",
    "ChildExitedError",
    "ChildProcesses",
    "DemoError",
    "PortInUseError",
    "StartTimeoutError",
    "check_port_free",
    "last_line",
]


class DemoError(Exception):
    """Root of the demo's errors; the message is one line for the user."""


class PortInUseError(DemoError):
    def __init__(self, port: int, what: str, option: str) -> None:
        self.port = port
        self.what = what
        super().__init__(
            f"port {port} on 127.0.0.1 is already in use ({what}); stop whatever listens "
            f"there or choose another port with {option}"
        )


class ChildExitedError(DemoError):
    def __init__(self, name: str, code: int, log_path: Path) -> None:
        self.name = name
        self.code = code
        self.log_path = log_path
        detail = last_line(log_path)
        super().__init__(
            f"{name} exited with status {code}: {detail or '(no output)'} (log: {log_path})"
        )


class StartTimeoutError(DemoError):
    def __init__(self, name: str, seconds: float, log_path: Path) -> None:
        self.name = name
        self.seconds = seconds
        super().__init__(f"{name} was not ready after {seconds:.0f} s (log: {log_path})")


def check_port_free(port: int, what: str, option: str) -> None:
    """Raise PortInUseError unless ``port`` can be bound on 127.0.0.1 right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(port, what, option) from exc


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (the one that says why a child stopped)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


class ChildProcesses:
    """``async with ChildProcesses() as children:`` start with :meth:`start`, see module doc."""

    def __init__(self, stop_timeout_s: float = 15.0) -> None:
        self.stop_timeout_s = stop_timeout_s
        self.children: list[Child] = []
        self._group = asyncio.TaskGroup()
        self._stopping = False
        self._failed: asyncio.Future[Child] | None = None

    async def __aenter__(self) -> ChildProcesses:
        self._failed = asyncio.get_running_loop().create_future()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True
        try:
            for child in reversed(self.children):
                await self.stop(child)
        finally:
            await self._group.__aexit__(et, e, tb)

    async def start(self, child: Child) -> Child:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HJEM_HUB_", "HJEM_EDGE_"))}
        env.update(child.env)
        env["PYTHONUNBUFFERED"] = "1"
        with child.log_path.open("ab") as log:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # the demo runs no threads
            )
        self.children.append(child)
        self._group.create_task(self._watch(child), name=f"watch-{child.name}")
        return child

    async def _watch(self, child: Child) -> None:
        assert child.process is not None
        await child.process.wait()
        if not self._stopping and self._failed is not None and not self._failed.done():
            self._failed.set_result(child)

    async def wait(self) -> None:
        """Return never; raise ChildExitedError when a child exits on its own."""
        assert self._failed is not None
        child = await asyncio.shield(self._failed)
        raise ChildExitedError(child.name, child.process.returncode or 0, child.log_path)  # type: ignore[union-attr]

    def check(self, child: Child) -> None:
        """Raise ChildExitedError if ``child`` has already exited."""
        if child.process is not None and child.process.returncode is not None:
            raise ChildExitedError(child.name, child.process.returncode, child.log_path)

    async def wait_for_log(self, child: Child, needle: str, timeout_s: float) -> None:
        """Wait until ``needle`` appears in the child's log (it logs when it is ready)."""
        deadline = time.monotonic() + timeout_s
        while needle not in child.log_text():
            self.check(child)
            if time.monotonic() > deadline:
                raise StartTimeoutError(child.name, timeout_s, child.log_path)
            await asyncio.sleep(0.1)

    async def wait_for_http(self, child: Child, port: int, path: str, timeout_s: float) -> None:
        """Wait until ``GET path`` on 127.0.0.1:port answers 200."""
        deadline = time.monotonic() + timeout_s
        while not await _http_ok(port, path):
            self.check(child)
            if time.monotonic() > deadline:
                raise StartTimeoutError(child.name, timeout_s, child.log_path)
            await asyncio.sleep(0.1)

    async def stop(self, child: Child) -> int | None:
        """SIGTERM, wait, SIGKILL after the timeout; the exit status (None if never started)."""
        process = child.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await wait_for(process.wait(), self.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return process.returncode


async def _http_ok(port: int, path: str) -> bool:
    try:
        reader, writer = await wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        status = await wait_for(reader.readline(), 5.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status.split(b" ")[1:2] == [b"200"]
