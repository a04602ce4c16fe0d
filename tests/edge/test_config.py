"""The gateway configuration: a wrong setting fails at start, naming the key and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from tests.support.edge import agent_config_dict, toml_of

ROOT = Path(__file__).resolve().parents[2]
HJEM = str(Path(sys.executable).parent / "hjem")


def write(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(toml_of(agent_config_dict(tmp_path, 1883, **overrides)), encoding="utf-8")
    return path


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "deploy" / "edge.example.toml")
    assert config.radio == "bluez"
    assert config.devices, "the example lists devices"


def test_a_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    assert config.gateway_id == "gw1"
    assert config.devices[0].device_id == "ble-c00000000010"
    assert config.devices[5].wants_connection, "GATT kinds connect by default"
    assert not config.devices[2].wants_connection


@pytest.mark.parametrize(
    ("overrides", "key", "problem"),
    [
        ({"gateway_id": "Gate Way"}, "gateway_id", "pattern"),
        ({"gateway_id": "hub"}, "gateway_id", "reserved"),
        ({"radio": "wifi"}, "radio", "'bluez' or 'virtual'"),
        ({"mqtt": {"url": "http://x"}}, "mqtt.url", "mqtt://host"),
        ({"mqtt": {"ca_file": "/nonexistent/ca.pem"}}, "mqtt.ca_file", "does not exist"),
        ({"mqtt": {"cert_file": str(ROOT / "README.md")}}, "mqtt.tls", "go together"),
        ({"outbox": {"quota_mb": 0}}, "outbox.quota_mb", "greater than 0"),
        ({"scan": {"mode": "loud"}}, "scan.mode", "'passive' or 'active'"),
        ({"scan": {"adapters": ["wlan0"]}}, "scan.adapters", "hci0"),
        ({"gatt": {"max_connections": 0}}, "gatt.max_connections", "greater than or equal to 1"),
        ({"devices": [{"address": "12:34", "kind": "bthome"}]}, "devices[0].address", "address"),
        (
            {"devices": [{"address": "C0:00:00:00:00:01", "kind": "toaster"}]},
            "devices[0].kind",
            "bthome",
        ),
        (
            {"devices": [{"address": "C0:00:00:00:00:01", "kind": "bthome", "bthome_key": "abc"}]},
            "devices[0].bthome_key",
            "32 hexadecimal",
        ),
        (
            {"devices": [{"address": "C0:00:00:00:00:01", "kind": "bthome"}] * 2},
            "devices",
            "listed twice",
        ),
        ({"device_timezone": "Mars/Olympus"}, "device_timezone", "unknown time zone"),
        ({"heartbeat_intervall_s": 5}, "heartbeat_intervall_s", "Extra inputs"),
    ],
)
def test_a_wrong_setting_names_key_and_problem(
    tmp_path: Path, overrides: dict[str, object], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, **overrides))
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(tmp_path / "edge.toml") in str(info.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('gateway_id = "gw1"\n[mqtt\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HJEM_EDGE_OUTBOX__QUOTA_MB", "12.5")
    monkeypatch.setenv("HJEM_EDGE_MQTT__PASSWORD", "s3cret")
    config = load_config(write(tmp_path))
    assert config.outbox.quota_mb == 12.5
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    monkeypatch.setenv("HJEM_EDGE_OUTBOX__QUOTA_MB", "lots")
    with pytest.raises(ConfigError, match=r"outbox.quota_mb: .*number"):
        load_config(write(tmp_path))


def test_cli_refuses_a_bad_config_with_one_clear_line(tmp_path: Path) -> None:
    path = write(tmp_path, scan={"mode": "loud"})
    run = subprocess.run(
        [HJEM, "edge", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "configuration error" in lines[0]
    assert "scan.mode" in lines[0]
    assert "Traceback" not in run.stderr
