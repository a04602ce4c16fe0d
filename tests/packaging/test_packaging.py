"""The package's promises: extras that keep the gateway free of hub dependencies, one command,
and a README whose quick start is exactly the two commands CI and users run."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB_ONLY = [
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "influxdb_client",
    "argon2",
    "multipart",
    "msgspec",
    "prometheus_client",
    "fastapi_offline",
]
SIM_ONLY = ["bumble", "numpy", "sim"]
"""The simulator and what only it needs (hjem[sim]): a gateway runs without them."""

# Runs in a fresh interpreter that cannot import any hub-only or simulator dependency, as on a
# gateway that installed only hjem[edge].
EDGE_ONLY = f"""
import importlib.abc, sys
BLOCKED = {HUB_ONLY + SIM_ONLY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
import edge.agent, edge.decoders, edge.gatt, edge.radio, edge.outbox, edge.publisher, edge.config
from hjem.cli import main
rc = main(["decode", "--gatt", "2A37", "0648"])
assert rc == 0, rc
for mod in BLOCKED:
    assert mod not in sys.modules, mod
rc = main(["hub", "run", "--config", "/nonexistent.toml"])
print("hub-rc", rc)
"""


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_edge_extra_has_no_hub_dependencies() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    edge = " ".join(extras["edge"]).lower()
    for name in ("fastapi", "uvicorn", "jinja2", "influxdb-client", "argon2"):
        assert name not in edge, name
    assert "bleak" in edge
    assert "fastapi" in " ".join(extras["hub"])
    assert _pyproject()["project"]["scripts"] == {"hjem": "hjem.cli:main"}


def test_edge_runs_without_hub_dependencies() -> None:
    out = subprocess.run(
        [sys.executable, "-c", EDGE_ONLY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"code":"147842"' in out.stdout  # heart rate decoded
    assert "hub-rc 2" in out.stdout  # the hub command says which extra is missing
    assert "needs the package" in out.stderr  # ... names what is missing
    assert "hjem[hub]" in out.stderr  # ... and the extra that brings it


def test_every_subcommand_has_help() -> None:
    from hjem.cli import SUBCOMMANDS

    for name in ("schema", "decode", "edge", "hub", "admin", "demo", "bench"):
        assert name in SUBCOMMANDS
        out = subprocess.run(
            [sys.executable, "-m", "hjem", name, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert out.returncode == 0, (name, out.stderr)
        assert "usage: hjem" in out.stdout


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = [
        ln.strip()
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert ci == ["exec bash scripts/test.sh"]
    assert "hjem demo" in (ROOT / "scripts" / "demo.sh").read_text()


def test_every_step_of_the_test_command_stops_it_when_it_fails(tmp_path: Path) -> None:
    """scripts/test.sh runs under ``set -e``, which does not stop at a failure inside an
    ``a && b`` list (the lint step once passed with a ruff error that way): each step is a
    command of its own. The check runs the script's own steps with ruff and mypy failing."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    steps = [
        ln.split("#")[0].strip()
        for ln in script.splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    checks = [s for s in steps if any(tool in s for tool in ("ruff", "mypy", "pytest"))]
    assert len(checks) >= 4, checks
    assert not [s for s in checks if "&&" in s or "||" in s], checks
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("ruff", "mypy", "pytest"):
        code = 1 if tool == "ruff" else 0
        (fake / tool).write_text(f'#!/bin/sh\necho {tool} "$@"\nexit {code}\n')
        (fake / tool).chmod(0o755)
    lint = "\n".join(checks)
    run = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\nexport PATH={fake}:$PATH\n{lint}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    assert "pytest" not in run.stdout.replace("== pytest", ""), run.stdout
