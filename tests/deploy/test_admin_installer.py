"""hub.admin.installer: device ids in every common address form, env files for secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hjem.cli import main
from hub.admin.installer import device_id, write_env_line
from hub.admin.provision import ProvisionError


@pytest.mark.parametrize(
    "text",
    [
        "A4:C1:38:00:00:01",
        "a4-c1-38-00-00-01",
        "A4C138000001",
        "a4c1.3800.0001",
        "ble:A4:C1:38:00:00:01",
        "ble-a4c138000001",
        " BLE-A4C138000001 ",
    ],
)
def test_a_bluetooth_address_in_any_form_is_the_edges_id(text: str) -> None:
    assert device_id(text) == "ble-a4c138000001"  # edge.config.DeviceConfig.device_id


def test_other_ids_are_kept_and_a_bad_address_is_named() -> None:
    assert device_id("acme-cuff-0042") == "acme-cuff-0042"
    with pytest.raises(ProvisionError, match="12 hex digits"):
        device_id("ble:A4:C1:38:00:11")


def test_env_line_replaces_only_its_variable(tmp_path: Path) -> None:
    env = tmp_path / "hub.env"
    write_env_line(env, "HJEM_HUB_MQTT__PASSWORD", "one")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    env.write_text(env.read_text() + "HJEM_HUB_STORE__INFLUX__TOKEN=t\n")
    write_env_line(env, "HJEM_HUB_MQTT__PASSWORD", "two")
    lines = env.read_text().splitlines()
    assert sorted(lines) == ["HJEM_HUB_MQTT__PASSWORD=two", "HJEM_HUB_STORE__INFLUX__TOKEN=t"]


def test_broker_password_names_the_variable_and_writes_the_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passwd, env = tmp_path / "hjem.passwd", tmp_path / "hub.env"
    code = main(["admin", "broker-password", "hub", "--password-file", str(passwd)])
    out = capsys.readouterr().out
    assert code == 0
    assert "HJEM_HUB_MQTT__PASSWORD=<password>" in out
    code = main(
        ["admin", "broker-password", "hub", "--password-file", str(passwd), "--env-file", str(env)]
    )
    out = capsys.readouterr().out
    password = next(line for line in out.splitlines() if line.startswith("MQTT password: "))
    assert env.read_text() == f"HJEM_HUB_MQTT__PASSWORD={password.split(': ', 1)[1]}\n"
