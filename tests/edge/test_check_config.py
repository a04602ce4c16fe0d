"""``hjem edge check-config``: every problem at once, machine checks of the TLS files, and
whether an MQTT password is set (never the password)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hjem.cli import main
from tests.support.deploy import make_certs

SECRET = "pw-that-must-not-show"


@pytest.fixture(autouse=True)
def no_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HJEM_EDGE_MQTT__PASSWORD", raising=False)


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["edge", "check-config", "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def problem_keys(err: str) -> list[str]:
    return sorted(line.split(": ")[1] for line in err.splitlines() if line.startswith("problem: "))


def test_every_problem_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        'gateway_id = "Gateway One"\n'  # 1: not a gateway id
        'log_level = "LOUD"\n'  # 2
        "[mqtt]\n"
        'url = "http://broker"\n'  # 3: not an MQTT URL
        "keepalive_s = 1\n"  # 4: below 5
        f'ca_file = "{tmp_path / "no-ca.crt"}"\n'  # 5: missing
        f'cert_file = "{tmp_path}"\n'  # 6: a directory
        f'key_file = "{tmp_path / "no.key"}"\n'  # 7: missing
        "[[devices]]\n"
        'address = "not-a-mac"\n'  # 8
        'kind = "thermometer"\n'
        "[scan]\n"
        "colour = 'blue'\n"  # 9: unknown key
    )
    code, out, err = run(config, capsys)
    assert code == 1
    assert out == "", "no settings to print when the file is not valid"
    assert problem_keys(err) == [
        "devices[0].address",
        "gateway_id",
        "log_level",
        "mqtt.ca_file",
        "mqtt.cert_file",
        "mqtt.keepalive_s",
        "mqtt.key_file",
        "mqtt.url",
        "scan.colour",
    ], err
    assert f"{tmp_path / 'no-ca.crt'} does not exist or is not a file" in err
    assert f"{config}: 9 problems" in err
    assert "mqtt password: NOT set" in err


def test_missing_files_of_an_otherwise_valid_file_each_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        'gateway_id = "gw1"\n[mqtt]\nurl = "mqtts://127.0.0.1:8883"\n'
        f'ca_file = "{tmp_path / "ca.crt"}"\n'
        f'cert_file = "{tmp_path / "gw1.crt"}"\nkey_file = "{tmp_path / "gw1.key"}"\n'
    )
    code, _, err = run(config, capsys)
    assert code == 1
    assert problem_keys(err) == ["mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file"], err
    assert f"{config}: 3 problems" in err


def test_a_key_that_does_not_match_its_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = tmp_path / "certs"
    make_certs(certs, "gw1", "gw2")
    config = tmp_path / "edge.toml"
    config.write_text(
        'gateway_id = "gw1"\n[mqtt]\nurl = "mqtts://127.0.0.1:8883"\n'
        f'ca_file = "{certs / "ca.crt"}"\n'
        f'cert_file = "{certs / "clients" / "gw1.crt"}"\n'
        f'key_file = "{certs / "clients" / "gw2.key"}"\n'
    )
    code, out, err = run(config, capsys)
    assert code == 1
    assert json.loads(out)["mqtt"]["tls"]["cert_file"].endswith("gw1.crt")
    assert "problem: mqtt.ca_file/cert_file/key_file: the TLS files do not load" in err
    assert "requires a client certificate" not in err


def test_an_unreadable_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:  # root reads every file it may open; this one fails to read for all
        key = Path("/proc/self/mem")
    else:
        key = tmp_path / "gw1.key"
        key.write_text("secret")
        key.chmod(0)
    cert = tmp_path / "gw1.crt"
    cert.write_text("not a certificate")
    config = tmp_path / "edge.toml"
    config.write_text(f'gateway_id = "gw1"\n[mqtt]\ncert_file = "{cert}"\nkey_file = "{key}"\n')
    code, _, err = run(config, capsys)
    assert code == 1
    assert f"problem: mqtt.key_file: {key} cannot be read: " in err
    assert "mqtt.cert_file" not in err, "the certificate is readable"


def test_password_in_the_environment_is_said_set_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        f'gateway_id = "gw1"\n[outbox]\npath = "{tmp_path / "o.sqlite"}"\n'
        '[mqtt]\nurl = "mqtts://127.0.0.1:8883"\n'
    )
    monkeypatch.setenv("HJEM_EDGE_MQTT__PASSWORD", SECRET)
    code, out, err = run(config, capsys)
    assert code == 0, err
    assert json.loads(out)["gateway_id"] == "gw1"
    assert "mqtt password: set, from the environment (HJEM_EDGE_MQTT__PASSWORD)" in err
    assert SECRET not in out + err
    assert (
        "note: the broker requires a client certificate: set [mqtt] cert_file and key_file" in err
    )
    assert f"{config}: no problems" in err


def test_password_in_the_file_and_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'gateway_id = "gw1"\n[mqtt]\npassword = "{SECRET}"\n')
    code, out, err = run(config, capsys)
    assert code == 0, err
    assert "mqtt password: set, from the file ([mqtt] password" in err
    assert SECRET not in out + err
    config.write_text('gateway_id = "gw1"\n')
    code, _, err = run(config, capsys)
    assert code == 0, err
    assert "mqtt password: NOT set" in err
    assert "HJEM_EDGE_MQTT__PASSWORD" in err
