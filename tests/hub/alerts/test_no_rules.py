"""A hub never runs silently without alert rules (issue 13): ``hjem hub run`` refuses a
configuration with no enabled rule in one line naming the setting, unless it says
``[alerts] enabled = false``; start-up logs one line per component."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hjem.mosquitto import Mosquitto
from hub.admin.provision import DEPLOY_DIR
from tests.hub.processes import HJEM, ROOT, HubProcess

pytestmark = pytest.mark.mosquitto

REFUSAL = (
    "a hub without alert rules raises no alert; set [alerts] rules_file"
    " (e.g. deploy/alerts.example.toml) or say [alerts] enabled = false"
)


def _config(tmp_path: Path, url: str, alerts: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'database = "hub.sqlite3"\n[mqtt]\nurl = "{url}"\nclient_id = "hub-rules"\n'
        f"[http]\nport = 0\n{alerts}",
        encoding="utf-8",
    )
    return path


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HJEM, "hub", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_no_rules_file_refuses_to_start_naming_the_setting(tmp_path: Path) -> None:
    done = _run(_config(tmp_path, "mqtt://127.0.0.1:1", ""))
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("hjem hub:")]
    assert problems == [f"hjem hub: [alerts] rules_file is not set: {REFUSAL}"]
    assert "Traceback" not in done.stderr


def test_a_rules_file_without_an_enabled_rule_refuses_to_start(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rule]]\nid = "fever"\nkind = "threshold"\nmeasure = "body_temperature"\n'
        'operator = ">="\nvalue = 38.5\nenabled = false\n'
    )
    done = _run(_config(tmp_path, "mqtt://127.0.0.1:1", '[alerts]\nrules_file = "alerts.toml"\n'))
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("hjem hub:")]
    assert problems == [f"hjem hub: [alerts] rules_file {rules} has no enabled rule: {REFUSAL}"]


def _lines(log: Path) -> list[str]:
    return [line.split(": ", 1)[1] for line in log.read_text().splitlines() if ": " in line]


def test_enabled_false_starts_and_says_so(broker: Mosquitto, tmp_path: Path) -> None:
    config = _config(tmp_path, broker.url, "[alerts]\nenabled = false\n")
    hub = HubProcess(config, tmp_path / "hub.log").start()
    try:
        lines = _lines(tmp_path / "hub.log")
    finally:
        assert hub.stop() == 0
    assert (
        "alert rules: none, alerts disabled ([alerts] enabled = false); this hub raises no alert"
        in lines
    )


def test_the_shipped_rules_start_with_one_line_per_component(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A relative rules_file is taken relative to the configuration file."""
    shutil.copy(DEPLOY_DIR / "alerts.example.toml", tmp_path / "alerts.toml")
    config = _config(tmp_path, broker.url, '[alerts]\nrules_file = "alerts.toml"\n')
    hub = HubProcess(config, tmp_path / "hub.log").start()
    try:
        lines = _lines(tmp_path / "hub.log")
    finally:
        assert hub.stop() == 0
    database = tmp_path / "hub.sqlite3"
    components = [
        line
        for line in lines
        if line.split(":")[0] in ("alert rules", "store", "broker", "listeners")
    ]
    assert components[0] == f"alert rules: 11 loaded (11 enabled) from {tmp_path / 'alerts.toml'}"
    assert components[1] == f"store: sqlite at {database} (registry and alerts: {database})"
    assert components[2] == f"broker: connected to {broker.url} as anonymous (client id hub-rules)"
    assert components[3].startswith("listeners: dashboard and API http://127.0.0.1:")
    assert len(components) == 4
