"""Issue 15, finding 13 (demo): the demo's state must not be readable by other local users.

The red team found the demo's database (residents' readings, password hashes) 0644 in 0755
directories. ``hjem demo`` as a user runs it, with a fresh ``--workdir``: every directory it
creates must be 0700 and every file 0600 (no group or other bits), the broker's, hub's and
edge agents' files included.
"""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import pytest

from hjem.mosquitto import free_port
from tests.demo.test_demo_run import start_demo

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]


def _open_to_others(root: Path) -> list[str]:
    """Paths under ``root`` (and itself) with any group or other permission bit."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or stat.S_ISSOCK(mode):
            continue
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return found


def test_the_demo_keeps_its_state_private(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    demo = start_demo(workdir, free_port(), free_port(), "--no-history")
    try:
        demo.read_until(r"\[demo\] logs and configuration in", 120)
        database = workdir / "hub" / "hub.sqlite3"
        assert database.exists()
        open_while_running = _open_to_others(workdir)
        demo.process.send_signal(signal.SIGINT)
        demo.process.wait(45)
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()
        demo.finish()
    assert open_while_running == []
    assert _open_to_others(workdir) == []
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
