"""``hjem hub check-config``, ``hjem hub rejections`` and ``hjem hub run`` without --config."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hjem.cli import main
from hub.admin.operator_cli import parse_since
from hub.config import HttpSettings
from hub.service import Hub
from tests.hub.helpers import NO_ALERTS, batch
from tests.hub.processes import HJEM, ROOT
from tests.support.hub_db import HubDatabases

RULES = '[[rule]]\nid = "fall"\nkind = "event"\nmeasure = "fall"\n'


def test_run_without_config_refuses_to_guess() -> None:
    out = subprocess.run(
        [*HJEM, "hub", "run"], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "--config FILE is required" in lines[0]
    assert "does not guess" in lines[0]


def test_check_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        'database = "hub.sqlite3"\n'
        "[mqtt]\n"
        'url = "http://wrong"\n'  # problem 1: not an MQTT URL
        "keepalive_s = 1\n"  # problem 2: below 5
        "[http]\n"
        "port = 99999\n"  # problem 3
        "colour = 'blue'\n"  # problem 4: unknown key
        "[alerts]\n"
        'rules_file = "no-such-rules.toml"\n'  # problem 5 (a file that does not exist)
    )
    assert main(["hub", "check-config", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    keys = sorted(line.split(": ")[1] for line in problems)
    assert keys == [
        "alerts.rules_file",
        "http.colour",
        "http.port",
        "mqtt.keepalive_s",
        "mqtt.url",
    ], out
    assert "no-such-rules.toml does not exist" in out
    assert f"{config}: 5 problems" in out


def test_check_config_prints_effective_settings_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alerts.toml").write_text(RULES)
    config = tmp_path / "hub.toml"
    config.write_text(
        'database = "data/hub.sqlite3"\n'
        '[mqtt]\nusername = "hub"\n'
        '[store]\nkind = "influxdb"\n'
        '[alerts]\nrules_file = "alerts.toml"\n'
    )
    monkeypatch.setenv("HJEM_HUB_MQTT__PASSWORD", "very-secret-broker-pw")
    monkeypatch.setenv("HJEM_HUB_STORE__INFLUX__TOKEN", "very-secret-influx-token")
    monkeypatch.setenv("HJEM_HUB_HTTP__PORT", "8181")
    assert main(["hub", "check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["mqtt"]["password"] == "**********"
    assert shown["store"]["influx"]["token"] == "**********"
    assert shown["http"]["port"] == 8181  # the environment applied
    assert shown["database"] == str(tmp_path / "data" / "hub.sqlite3")
    assert shown["alerts"]["rules_file"] == str(tmp_path / "alerts.toml")
    assert out.rstrip().endswith(f"{config}: no problems")


def test_check_config_machine_checks_after_a_valid_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[mqtt]\nusername = "hub"\n'  # no password anywhere
        f'[mqtt.tls]\nca_file = "{tmp_path / "missing-ca.crt"}"\n'
        '[store]\nkind = "influxdb"\n'  # no token
        "[alerts]\nenabled = true\n"  # no rules file
    )
    assert main(["hub", "check-config", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    keys = sorted(line.split(": ")[1] for line in out.splitlines() if line.startswith("problem"))
    assert keys == [
        "alerts.rules_file",
        "mqtt.password",
        "mqtt.tls.ca_file",
        "store.influx.token",
    ], out
    assert "missing-ca.crt does not exist" in out


@pytest.mark.asyncio
async def test_rejections_lists_dead_letters_with_reasons(
    hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = hub_dbs.settings(http=HttpSettings(enabled=False), alerts=NO_ALERTS)
    async with Hub(settings, mqtt=False) as hub:
        await hub.ingest_http("vendor-x", b"{broken")
        await hub.ingest_http("vendor-y", batch("gw-1", 0, 1))  # another's publisher id
    config = hub_dbs.write_toml("[alerts]\nenabled = false\n")

    assert main(["hub", "rejections", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("2 rejections (newest first)")
    assert "message m-gw-1-0: whole message refused" in out
    assert "vendor-y  publisher_mismatch" in out
    assert "$.publisher: publisher 'gw-1' does not match the sender 'vendor-y'" in out
    assert "vendor-x  malformed" in out
    assert "$: not valid JSON" in out

    assert main(["hub", "rejections", "--config", str(config), "--publisher", "vendor-y"]) == 0
    only = capsys.readouterr().out
    assert "vendor-x" not in only
    assert only.rstrip().endswith("1 rejection of vendor-y (newest first)")

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert main(["hub", "rejections", "--config", str(config), "--since", later]) == 0
    assert capsys.readouterr().out.strip() == "0 rejections (newest first)"
    assert main(["hub", "rejections", "--config", str(config), "--since", "1h"]) == 0
    assert "2 rejections" in capsys.readouterr().out

    assert main(["hub", "rejections", "--config", str(config), "--since", "yesterday"]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_parse_since() -> None:
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-01-31T10:00", now) == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
