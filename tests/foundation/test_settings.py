"""The settings loader shared by edge and hub (foundation/settings.py): every problem at once,
each naming the file and the key as written; the environment over the file; one broker
section that reads the same for the edge and the hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig, load_config
from edge.errors import ConfigError as EdgeConfigError
from foundation.settings import (
    BrokerSettings,
    SettingsError,
    TlsFiles,
    load_file,
    password_source,
    read_toml,
)
from hub.config import HubSettings, load_settings
from hub.errors import ConfigError as HubConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HJEM_EDGE_MQTT__PASSWORD", "HJEM_HUB_MQTT__PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_at_once_each_naming_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'gateway_id = "Not An Id"\n'
        'radio = "wifi"\n'
        "[mqtt]\n"
        'url = "http://broker"\n'
        "keepalive_s = 1\n"
        f'ca_file = "{tmp_path / "ca.crt"}"\n'
        "[mqtt.tls]\n"
        f'cert_file = "{tmp_path / "gw.crt"}"\n'
        f'key_file = "{tmp_path / "gw.key"}"\n'
        "[[devices]]\n"
        'address = "C0:00:00:00:00:01"\n'
        'kind = "toaster"\n'
        "[scan]\n"
        'colour = "blue"\n',
    )
    with pytest.raises(SettingsError) as info:
        load_file(EdgeConfig, path)
    keys = [key for key, _ in info.value.problems]
    assert sorted(keys) == [
        "devices[0].kind",
        "gateway_id",
        "mqtt.ca_file",  # as written: in [mqtt]
        "mqtt.keepalive_s",
        "mqtt.tls.cert_file",  # as written: in [mqtt.tls]
        "mqtt.tls.key_file",
        "mqtt.url",
        "radio",
        "scan.colour",
    ]
    problems = dict(info.value.problems)
    assert problems["mqtt.ca_file"] == f"{tmp_path / 'ca.crt'} does not exist or is not a file"
    assert "mqtt://host" in problems["mqtt.url"]
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert all(f"{key}: " in message for key in keys), message


def test_the_edge_and_the_hub_raise_their_own_error_with_every_problem(tmp_path: Path) -> None:
    edge = write(tmp_path, 'gateway_id = "hub"\n[scan]\nmode = "loud"\n', "edge.toml")
    with pytest.raises(EdgeConfigError) as edge_info:
        load_config(edge)
    assert [k for k, _ in edge_info.value.problems] == ["gateway_id", "scan.mode"]
    assert (edge_info.value.key, edge_info.value.source) == ("gateway_id", str(edge))
    hub = write(tmp_path, "[http]\nport = -1\n[ingest]\nqueue_size = 0\n", "hub.toml")
    with pytest.raises(HubConfigError) as hub_info:
        load_settings(hub)
    assert [k for k, _ in hub_info.value.problems] == ["http.port", "ingest.queue_size"]


def test_an_unreadable_file_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"missing\.toml: \(file\): cannot read: No such file"):
        read_toml(EdgeConfig, tmp_path / "missing.toml")
    bad = write(tmp_path, 'gateway_id = "gw"\n[mqtt\n', "bad.toml")
    with pytest.raises(SettingsError, match=r"bad\.toml: \(syntax\): not valid TOML: .*line 2"):
        read_toml(EdgeConfig, bad)


def test_the_environment_overrides_the_file_nested_with_double_underscore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, 'gateway_id = "gw1"\n[mqtt]\nurl = "mqtt://a:1883"\nusername = "file-user"\n'
    )
    monkeypatch.setenv("HJEM_EDGE_MQTT__URL", "mqtts://b:8883")
    monkeypatch.setenv("HJEM_EDGE_MQTT__PASSWORD", "from-env")
    monkeypatch.setenv("HJEM_EDGE_MQTT__CA_FILE", str(tmp_path / "absent-ca.crt"))
    with pytest.raises(SettingsError) as info:  # a TLS file given in the environment is checked
        load_file(EdgeConfig, path)
    assert info.value.problems == [
        ("mqtt.ca_file", f"{tmp_path / 'absent-ca.crt'} does not exist or is not a file")
    ]
    ca = write(tmp_path, "", "ca.crt")
    monkeypatch.setenv("HJEM_EDGE_MQTT__CA_FILE", str(ca))
    config = load_file(EdgeConfig, path)
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username) == ("b", 8883, "file-user")
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-env"
    assert config.mqtt.ca_file == ca
    assert password_source(EdgeConfig, read_toml(EdgeConfig, path), "mqtt") == (
        "the environment (HJEM_EDGE_MQTT__PASSWORD)"
    )
    monkeypatch.setenv("HJEM_EDGE_MQTT__KEEPALIVE_S", "often")
    with pytest.raises(SettingsError, match=r"mqtt\.keepalive_s: .*integer"):
        load_file(EdgeConfig, path)


def test_relative_paths_are_taken_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = write(
        tmp_path / "etc",
        'database = "hub.sqlite3"\n[alerts]\nrules_file = "rules/alerts.toml"\n',
        "hub.toml",
    )
    settings = load_file(HubSettings, path)
    assert settings.database == tmp_path / "etc" / "hub.sqlite3"
    assert settings.alerts.rules_file == tmp_path / "etc" / "rules" / "alerts.toml"


BROKER = (
    "[mqtt]\n"
    'url = "mqtts://broker.example:8883"\n'
    'username = "who"\n'
    'client_id = "c-1"\n'
    "keepalive_s = 45\n"
    'ca_file = "{ca}"\n'
    'cert_file = "{ca}"\n'
    'key_file = "{ca}"\n'
)
SHARED = tuple(BrokerSettings.model_fields)


@pytest.mark.parametrize("spelling", ["in [mqtt]", "in [mqtt.tls]"])
def test_one_broker_section_reads_the_same_for_edge_and_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    ca = write(tmp_path, "", "ca.pem")
    section = BROKER.format(ca=ca)
    if spelling == "in [mqtt.tls]":
        head, _, files = section.partition('ca_file = "')
        section = head + '[mqtt.tls]\nca_file = "' + files
    monkeypatch.setenv("HJEM_EDGE_MQTT__PASSWORD", "pw")
    monkeypatch.setenv("HJEM_HUB_MQTT__PASSWORD", "pw")
    edge = load_file(EdgeConfig, write(tmp_path, 'gateway_id = "gw1"\n' + section, "edge.toml"))
    hub = load_file(HubSettings, write(tmp_path, section, "hub.toml"))
    assert isinstance(edge.mqtt, BrokerSettings)
    assert isinstance(hub.mqtt, BrokerSettings)
    assert edge.mqtt.model_dump(include=set(SHARED)) == hub.mqtt.model_dump(include=set(SHARED))
    assert edge.mqtt.tls == TlsFiles(ca_file=ca, cert_file=ca, key_file=ca)
    for name in ("host", "port", "uses_tls", "ca_file", "cert_file", "key_file"):
        assert getattr(edge.mqtt, name) == getattr(hub.mqtt, name), name
    assert {"url", "client_id", "username", "password", "tls", "keepalive_s"} <= set(SHARED)


def test_a_wrong_broker_section_gets_the_same_problems_in_edge_and_hub(tmp_path: Path) -> None:
    section = (
        '[mqtt]\nurl = "tcp://x"\nkeepalive_s = 2\n'
        f'cert_file = "{tmp_path / "gw.crt"}"\nca_file = "{tmp_path / "ca.crt"}"\n'
    )
    found = []
    for cls, head in ((EdgeConfig, 'gateway_id = "gw1"\n'), (HubSettings, "")):
        with pytest.raises(SettingsError) as info:
            load_file(cls, write(tmp_path, head + section))
        found.append(sorted(info.value.problems))
    assert found[0] == found[1]
    assert [key for key, _ in found[0]] == [
        "mqtt.ca_file",
        "mqtt.cert_file",
        "mqtt.keepalive_s",
        "mqtt.tls",  # cert_file without key_file
        "mqtt.url",
    ]


def test_tls_follows_the_url_or_the_files() -> None:
    assert BrokerSettings(url="mqtts://h").uses_tls
    assert BrokerSettings(url="mqtts://h").port == 8883
    assert not BrokerSettings(url="mqtt://h").uses_tls
    assert BrokerSettings(url="mqtt://h", tls=TlsFiles()).uses_tls
    flat = BrokerSettings.model_validate({"url": "mqtt://h", "ca_file": "/ca"})
    assert flat.tls == TlsFiles(ca_file=Path("/ca"))
    with pytest.raises(ValueError, match="ca_file is given twice"):
        BrokerSettings.model_validate({"ca_file": "/a", "tls": {"ca_file": "/b"}})
    alerts = BrokerSettings(url="mqtts://h", username="hub", client_id="c").as_login("x", "x-1")
    assert (alerts.url, alerts.username, alerts.client_id, alerts.uses_tls) == (
        "mqtts://h",
        "x",
        "x-1",
        True,
    )


def test_hjem_edge_run_says_every_problem_in_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hjem.cli import main

    path = write(tmp_path, 'gateway_id = "gw1"\nradio = "wifi"\n[scan]\nmode = "loud"\n')
    assert main(["edge", "run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hjem edge: configuration error: {path}: radio: ")
    assert "; scan.mode: " in lines[0]
