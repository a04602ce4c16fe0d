"""Run a guide's command blocks as written (docs/deploy.md, schemas/README.md).

The conventions are stated in docs/deploy.md, "How this guide is tested":

* only ```sh blocks run (in order, in one bash session), and ```toml blocks preceded by
  ``<!-- guide-test: edit FILE -->`` (applied to FILE as an installer's edit); a block preceded
  by ``<!-- guide-test: skip: REASON -->`` does not run;
* system paths (``/etc/``, ``/var/lib/``, ``/run/``, ``/opt/hjem``, ``/usr/share/doc``) are
  moved under a temporary root, production host names and ports onto 127.0.0.1 and free ports;
* commands that need the machine itself (``apt``, ``useradd``, ``systemctl``, ``journalctl``,
  ``python3 -m venv``, ``scp``) are shell functions standing in for them
  (:mod:`tests.support.guide_stand_ins`), ``sudo`` runs its command as the test's user.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "GuideShell", "apply_toml_edit", "blocks", "rebase"]

REPO = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- guide-test: (.+?) -->\s*$")
_HEADING = re.compile(r"^(##) (.+)$")
_SYSTEM_PATH = re.compile(
    r"(?<![\w.$/-])/(etc|var/lib|run|opt/hjem|usr/share/doc)(?=/|\s|$|['\")])"
)
_SENTINEL = "__guide_block_done__"


@dataclass(frozen=True)
class Block:
    section: str
    lang: str
    text: str
    marker: str = ""
    line: int = 0

    @property
    def runs(self) -> bool:
        return not self.marker.startswith("skip")


def blocks(markdown: str) -> list[Block]:
    """Every fenced block with the ``##`` heading it is under and the marker just before it."""
    found: list[Block] = []
    section, marker, lang = "", "", None
    body: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), 1):
        if lang is not None:
            if line.strip() == "```":
                found.append(Block(section, lang, "\n".join(body) + "\n", marker, start))
                lang, marker, body = None, "", []
            else:
                body.append(line)
            continue
        if heading := _HEADING.match(line):
            section = heading.group(2).strip()
        if found_marker := _MARKER.match(line):
            marker = found_marker.group(1)
        elif fence := _FENCE.match(line):
            lang, start = fence.group(1), number
        elif line.strip():
            marker = ""
    return found


def rebase(text: str, root: Path, hosts: dict[str, str]) -> str:
    """System paths under ``root``; each ``hosts`` key (e.g. ``broker.example.org:8883``)
    replaced by its value (``127.0.0.1:<port>``)."""
    for name, replacement in hosts.items():
        text = text.replace(name, replacement)
    return _SYSTEM_PATH.sub(lambda m: f"{root}/{m.group(1)}", text)


def apply_toml_edit(original: str, edit: str) -> str:
    """Set each ``key = value`` of ``edit`` in its table of ``original`` (a commented-out
    ``# key = ...`` line is replaced, else the key is added at the table's end)."""
    tomllib.loads(edit)  # the block itself must be valid TOML
    lines = original.splitlines()
    table = ""
    for raw in edit.splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("[") else raw.strip()
        if not line:
            continue
        if line.startswith("["):
            table = line
            continue
        key = line.split("=", 1)[0].strip()
        lines = _set_key(lines, table, key, raw)
    return "\n".join(lines) + "\n"


def _set_key(lines: list[str], table: str, key: str, new: str) -> list[str]:
    current, last_of_table = "", -1 if table else 0
    pattern = re.compile(rf"^#?\s*{re.escape(key)}\s*=")
    for index, line in enumerate(lines):
        if line.startswith("["):
            current = line.split("#", 1)[0].strip()
            if current == table:
                last_of_table = index
            continue
        if current == table:
            if pattern.match(line):
                return [*lines[:index], new, *lines[index + 1 :]]
            if line.strip():
                last_of_table = index
    if last_of_table < 0:
        return [*lines, "", table, new]
    return [*lines[: last_of_table + 1], new, *lines[last_of_table + 1 :]]


def _prelude(root: Path) -> str:
    stand_in = f'"{sys.executable}" -m tests.support.guide_stand_ins'
    functions = "\n".join(
        f'{name}() {{ {stand_in} {name} "$@"; }}'
        for name in ("apt", "apt-get", "useradd", "systemctl", "journalctl", "scp")
    )
    return f"""set -euo pipefail
export GUIDE_ROOT={root}
sudo() {{
  while [ "${{1-}}" = -E ] || [ "${{1-}}" = -u ]; do [ "$1" = -u ] && shift; shift; done; "$@"
}}
{functions}
install() {{ command install $({stand_in} owners "$@"); }}
python3() {{
  if [ "${{1-}}" = -m ] && [ "${{2-}}" = venv ]; then shift 2; {stand_in} venv "$@";
  else command python3 "$@"; fi
}}
bluetoothctl() {{ echo "guide test: no Bluetooth adapter here (the virtual radio stands in)"; }}
timedatectl() {{ command timedatectl "$@" 2>/dev/null || true; }}
"""


@dataclass
class GuideShell:
    """One bash session that runs blocks one at a time (variables carry over)."""

    root: Path
    cwd: Path
    env: dict[str, str]
    transcript: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO)}
        bin_dir = Path(sys.executable).parent
        env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
        self._proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
            cwd=self.cwd,
            env=env,
        )
        self.run(_prelude(self.root), label="prelude")

    def run(self, script: str, *, label: str, timeout_s: float = 180.0) -> str:
        """Run ``script``; its output. A failing command ends the session, a block running
        longer than ``timeout_s`` fails the test: AssertionError with the output so far."""
        assert self._proc
        assert self._proc.stdin
        assert self._proc.stdout
        self._proc.stdin.write(f"{script}\necho {_SENTINEL}\n".encode())
        self._proc.stdin.flush()
        fd, out = self._proc.stdout.fileno(), b""
        deadline = time.monotonic() + timeout_s
        while (end := out.find(f"{_SENTINEL}\n".encode())) < 0:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                text = out.decode(errors="replace")
                self.transcript.append(f"--- {label} (FAILED)\n{text}")
                why = "timed out" if not ready else f"failed (exit {self._proc.wait()})"
                raise AssertionError(f"guide block {label} {why}:\n{text}")
            out += chunk
        text = out[:end].decode(errors="replace")
        self.transcript.append(f"--- {label}\n{text}")
        return text

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait(timeout=30)
            if self._proc.stdout:
                self._proc.stdout.close()
