"""``pip install 'hjem[edge]'`` into a fresh virtual environment, as on a gateway.

A real install (not editable) from a copy of this checkout, with the machine's pip settings
(its wheel cache and indexes). The gateway gets the edge and what it needs, and nothing of the
simulator (bumble, numpy), the hub or the development tools; ``hjem edge check-config`` and
``hjem decode`` work there, the virtual radio says which extra it needs, and the benchmarks
are not installed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_A_GATEWAY = {
    # the simulator's
    "bumble",
    "numpy",
    # the hub's
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "influxdb-client",
    "argon2-cffi",
    "msgspec",
    "prometheus-client",
    "zxcvbn",
    "fastapi-offline",
    # the development tools (the dev extra)
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "hypothesis",
    "ruff",
    "mypy",
    "httpx",
    "jsonschema",
    "ucumvert",
    "fhir-resources",
    "bthome-ble",
    "playwright",
}
CONFIG = """\
gateway_id = "gw-install"
{radio}
[mqtt]
url = "mqtt://127.0.0.1:1"
[outbox]
path = "{outbox}"
[[devices]]
address = "C0:00:00:00:00:01"
kind = "thermometer"
"""


def _copy_source(target: Path) -> None:
    """pyproject, README and the packages the wheel takes (not the work tree's build files)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for path in ROOT.iterdir():
        if path.is_dir() and any(fnmatch.fnmatch(path.name, p) for p in patterns):
            shutil.copytree(path, target / path.name, ignore=shutil.ignore_patterns("__pycache__"))


def _run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_edge_extra_installs_a_gateway_without_simulator_hub_or_dev_packages(
    tmp_path: Path,
) -> None:
    source = tmp_path / "hjem-src"
    _copy_source(source)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = _run(
        [str(python), "-m", "pip", "install", "-q", f"{source}[edge]"], tmp_path, timeout=180
    )
    assert install.returncode == 0, install.stderr[-3000:]

    listed = _run([str(python), "-m", "pip", "list", "--format=json"], tmp_path)
    installed = {re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.loads(listed.stdout)}
    assert {"hjem", "bleak", "aiomqtt", "cryptography"} <= installed
    assert not installed & NOT_ON_A_GATEWAY

    hjem = str(env_dir / "bin" / "hjem")
    config = tmp_path / "edge.toml"
    outbox = tmp_path / "outbox.sqlite3"
    config.write_text(CONFIG.format(radio="", outbox=outbox))
    check = _run([hjem, "edge", "check-config", "--config", str(config)], tmp_path)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["devices"][0]["kind"] == "thermometer"

    decode = _run([hjem, "decode", "--gatt", "2A37", "0648"], tmp_path)
    assert decode.returncode == 0, decode.stderr
    assert json.loads(decode.stdout)["value"] == "72"

    config.write_text(CONFIG.format(radio='radio = "virtual"', outbox=outbox))
    virtual = _run([hjem, "edge", "run", "--config", str(config)], tmp_path)
    assert virtual.returncode == 1
    assert "pip install 'hjem[sim]'" in virtual.stderr

    bench = _run([hjem, "bench"], tmp_path)
    assert bench.returncode == 2
    assert "bench/ directory of a source checkout" in bench.stderr
    no_bench = _run([str(python), "-c", "import bench"], tmp_path)
    assert "No module named 'bench'" in no_bench.stderr
