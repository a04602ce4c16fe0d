"""docs/fhir.md's worked example, run as written against a real hub (uvicorn on 127.0.0.1).

The ```sh blocks run in order in bash and the ```python block with the project's Python, in
one directory, with ``HUB``, ``HUB_TOML`` and ``RESIDENT`` set and ``hjem``/``python3`` those
of this virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.fhir.access_log import AccessLog
from tests.support.fhir import ThreadedHub, prepare_registry, send_readings
from tests.support.guide import blocks
from tests.support.hub_db import HubDatabases

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[3] / "docs" / "fhir.md"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_worked_example_as_written(tmp_path: Path, hub_dbs: HubDatabases) -> None:
    config = hub_dbs.write_toml()
    residents, vendor_token = prepare_registry(hub_dbs)
    example = [b for b in blocks(DOC.read_text(encoding="utf-8")) if b.section == "Worked example"]
    assert [b.lang for b in example] == ["sh", "sh", "python", "sh", "sh"]
    with ThreadedHub(hub_dbs) as hub:
        sent = send_readings(hub.base, vendor_token, "Anna", 150)
        env = {
            **os.environ,
            "HUB": hub.base,
            "HUB_TOML": str(config),
            "RESIDENT": residents["Anna"],
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        outputs = []
        for block in example:
            if block.lang == "python":
                script = tmp_path / "fetch.py"
                script.write_text(block.text, encoding="utf-8")
                outputs.append(_run([sys.executable, str(script)], tmp_path, env))
            else:
                outputs.append(_run(["bash", "-euo", "pipefail", "-c", block.text], tmp_path, env))
    assert outputs[2].strip() == f"{len(sent)} observations in 2 pages"
    log_lines = outputs[3].strip().splitlines()
    assert len(log_lines) == 2  # the two pages
    assert all("\thospital-app\thospital\t" in line and "\t200\t" in line for line in log_lines)
    assert "consent 1 revoked" in outputs[4]
    entries = AccessLog(hub_dbs.open()).entries(frozenset({"kommune-a"}))
    assert sum(e.returned for e in entries) == len(sent)
