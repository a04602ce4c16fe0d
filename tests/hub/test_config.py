from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.errors import ConfigError


def test_toml_file_is_loaded_and_relative_database_is_next_to_it(tmp_path: Path) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text(
        'database = "data/hub.sqlite3"\n'
        "[mqtt]\n"
        'url = "mqtts://broker.example:8883"\n'
        'protocol = "5"\n'
        'shared_group = "hubs"\n'
        "[http]\n"
        "port = 8099\n"
        "[store]\n"
        'kind = "influxdb"\n'
        "[store.influx]\n"
        'bucket = "care"\n'
    )
    settings = load_settings(conf)
    assert settings.database == tmp_path / "data" / "hub.sqlite3"
    assert settings.mqtt.host == "broker.example"
    assert settings.mqtt.port == 8883
    assert settings.mqtt.uses_tls
    assert settings.mqtt.shared_group == "hubs"
    assert settings.http.port == 8099
    assert settings.store.kind == "influxdb"
    assert settings.store.influx.bucket == "care"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text("[http]\nport = 8099\n")
    monkeypatch.setenv("HJEM_HUB_HTTP__PORT", "8123")
    monkeypatch.setenv("HJEM_HUB_MQTT__CLIENT_ID", "hub-b")
    settings = load_settings(conf)
    assert settings.http.port == 8123
    assert settings.mqtt.client_id == "hub-b"


def test_unknown_key_is_named_with_its_section(tmp_path: Path) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text('[mqtt]\nurll = "mqtt://x"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(conf)
    assert ("mqtt.urll", "Extra inputs are not permitted") in info.value.problems
    assert "hub.toml: mqtt.urll" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('[mqtt]\nurl = "http://x"\n', "mqtt.url", "must look like mqtt://"),
        ('[mqtt]\nprotocol = "3.1.1"\nshared_group = "g"\n', "mqtt", "shared_group needs"),
        ('[store]\nkind = "postgres"\n', "store.kind", "'influxdb' or 'postgresql'"),
        ("[http]\nport = 70000\n", "http.port", "less than or equal to 65535"),
        ("database = [1]\n", "database", "path"),
        (  # the broker sends at most min(receive_maximum, queue_size) unacknowledged messages
            "[status]\nbacklog_messages = 1000\n",
            "(top level)",
            "status.backlog_messages (1000) can never be exceeded",
        ),
    ],
)
def test_wrong_values_name_key_and_problem(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(conf)
    assert any(k == key and fragment in p for k, p in info.value.problems), info.value.problems


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: \(syntax\)"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_hjem_hub_run_reports_a_wrong_config_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hjem.cli import main

    conf = tmp_path / "hub.toml"
    conf.write_text("[ingest]\nqueue_size = 0\n")
    assert main(["hub", "run", "--config", str(conf)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"hjem hub: {conf}: ingest.queue_size: ")
    assert "greater than or equal to 1" in err[0]


def test_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "hub.example.toml"
    settings = load_settings(example)
    assert settings.mqtt.protocol == "5"
    assert settings.mqtt.shared_group is None  # a subscription the broker keeps on restart
    assert settings.mqtt.receive_maximum <= 1000  # the shipped broker's max_inflight_messages
