"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``) without a dependency.

``notify("READY=1")`` sends one datagram to the unix socket named by ``$NOTIFY_SOCKET``
(a path, or an abstract socket when it starts with ``@``); without the variable (not run by
systemd) it does nothing. :func:`watchdog_interval` is half of ``$WATCHDOG_USEC`` (when
``$WATCHDOG_PID`` is unset or this process), and :func:`watchdog_pings` is a task that
sends ``WATCHDOG=1`` at that interval **from the event loop**: a loop that hangs stops the
pings, and systemd restarts the service after ``WatchdogSec``. Shared by hub and edge.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

__all__ = ["notify", "watchdog_interval", "watchdog_pings"]

log = logging.getLogger("hjem.sd_notify")


def _address(name: str) -> str | bytes:
    if name.startswith("@"):  # abstract namespace: a leading NUL byte
        return b"\0" + name[1:].encode()
    return name


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not under systemd.

    A failure to send is logged, never raised: the service keeps running.
    """
    name = os.environ.get("NOTIFY_SOCKET")
    if not name:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(name))
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", name, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec), or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):  # meant for another process
        return None
    return int(usec) / 2 / 1_000_000


async def watchdog_pings(alive: Callable[[], bool] = lambda: True) -> None:
    """Send ``WATCHDOG=1`` every half WatchdogSec while ``alive()``; return at once without.

    ``alive`` lets the caller withhold a ping (e.g. a hub whose ingest stopped); the ping
    itself proves only that the event loop still runs.
    """
    interval = watchdog_interval()
    if interval is None or not os.environ.get("NOTIFY_SOCKET"):
        return
    log.info("systemd watchdog: pinging every %.1f s", interval)
    while True:
        if alive():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval)
