"""The shipped deployment files are valid for what reads them."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hub.admin.provision import DEPLOY_DIR
from hub.config import load_settings

ROOT = DEPLOY_DIR.parent


def test_hub_example_toml_loads_as_hub_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HJEM_HUB_MQTT__PASSWORD", "from-the-environment")
    settings = load_settings(DEPLOY_DIR / "hub.example.toml")
    assert settings.mqtt.username == "hub"
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "from-the-environment"
    # one hub process on a subscription Mosquitto keeps across restarts (issue 15, finding 4)
    assert settings.mqtt.shared_group is None
    assert settings.store.kind == "influxdb"
    assert settings.database == Path("/var/lib/hjem/hub.sqlite3")


def test_compose_hub_toml_loads_as_hub_settings() -> None:
    settings = load_settings(DEPLOY_DIR / "compose" / "hub.toml")
    assert settings.mqtt.uses_tls
    assert (settings.mqtt.host, settings.mqtt.port) == ("mosquitto", 8883)
    assert settings.store.influx.url == "http://influxdb:8086"


def _load_yaml(path: Path) -> Any:
    """PyYAML from this interpreter, else the system python3's; None if neither has it."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        system = shutil.which("python3", path="/usr/bin:/bin")
        if system is None:
            return None
        code = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        done = subprocess.run(
            [system, "-c", code, str(path)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            assert "No module named 'yaml'" in done.stderr, done.stderr
            return None
        return json.loads(done.stdout)
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_compose_file_structure() -> None:
    """Docker cannot run here: the compose file is checked for structure, not started."""
    compose_dir = DEPLOY_DIR / "compose"
    doc = _load_yaml(compose_dir / "docker-compose.yml")
    if doc is None:
        print("PyYAML is not available to any interpreter here: compose YAML not parsed")
        pytest.skip("PyYAML is not available to parse docker-compose.yml")
    assert set(doc["services"]) == {"mosquitto", "influxdb", "hub"}
    assert doc["services"]["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert doc["services"]["influxdb"]["image"].startswith("influxdb:2")
    hub = doc["services"]["hub"]
    assert set(hub["depends_on"]) == {"mosquitto", "influxdb"}
    _local_sources_exist(compose_dir, doc, {"./hjem.passwd", "./certs", "./certs/ca.crt"})
    # the mounted broker configuration is the shipped one, at the paths it names
    mounts = {v.split(":")[1]: v.split(":")[0] for v in doc["services"]["mosquitto"]["volumes"]}
    assert mounts["/etc/mosquitto/mosquitto.conf"] == "../mosquitto/mosquitto.conf"
    assert mounts["/etc/mosquitto/hjem.acl"] == "../mosquitto/hjem.acl"
    build = hub["build"]
    dockerfile = (compose_dir / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == compose_dir / "Dockerfile"
    # the hub's TLS files are mounted where compose/hub.toml expects them
    settings = load_settings(compose_dir / "hub.toml")
    assert settings.mqtt.tls is not None
    hub_mounts = {v.split(":")[1] for v in hub["volumes"]}
    for wanted in (
        settings.mqtt.tls.ca_file,
        settings.mqtt.tls.cert_file,
        settings.mqtt.tls.key_file,
    ):
        assert str(wanted) in hub_mounts
    assert "/etc/hjem/hub.toml" in hub_mounts


def test_dockerfile_copies_what_exists_and_runs_the_hub() -> None:
    lines = (DEPLOY_DIR / "compose" / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copies = [
        line.split()[1:-1] for line in lines if line.startswith("COPY ") and "--from" not in line
    ]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert json.loads(cmd[4:]) == ["hjem", "hub", "run", "--config", "/etc/hjem/hub.toml"]
    assert any(line.startswith("USER hjem") for line in lines)


def test_hub_unit_verifies_with_systemd(tmp_path: Path) -> None:
    unit = (DEPLOY_DIR / "systemd" / "hjem-hub.service").read_text(encoding="utf-8")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit)
    service = parser["Service"]
    assert service["User"] == "hjem"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["ExecStart"].endswith("hjem hub run --config /etc/hjem/hub.toml")
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")  # sd_notify.py
    assert int(service["WatchdogSec"]) >= 10
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze is not installed: unit checked by parsing only")
        return
    # verify the unit with the ExecStart binary pointed at this checkout's hjem script
    local = Path(sys.executable).parent / "hjem"
    copy = tmp_path / "hjem-hub.service"
    copy.write_text(unit.replace("/opt/hjem/bin/hjem", str(local)), encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == ""


def _local_sources_exist(compose_dir: Path, doc: Any, generated: set[str]) -> None:
    """Every bind-mounted file exists (or the documented setup makes it); every named
    volume is declared."""
    for service in doc["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                made = source in generated or source.startswith("./certs/")
                assert made or (compose_dir / source).exists(), source
            else:
                assert source in doc["volumes"], source


def test_compose_nodes_file_structure(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose.nodes.yml: PostgreSQL and two hub nodes, each its own broker login and
    client id on one shared subscription, both on the same database (structure only)."""
    compose_dir = DEPLOY_DIR / "compose"
    doc = _load_yaml(compose_dir / "docker-compose.nodes.yml")
    if doc is None:
        pytest.skip("PyYAML is not available to parse docker-compose.nodes.yml")
    services = doc["services"]
    assert set(services) == {"mosquitto", "postgres", "hub-a", "hub-b"}
    base = _load_yaml(compose_dir / "docker-compose.yml")
    extends = services["mosquitto"]["extends"]
    assert extends["service"] in _load_yaml(compose_dir / extends["file"])["services"]
    assert base["services"]["mosquitto"]["volumes"][1].endswith(":/etc/mosquitto/hjem.acl:ro")
    assert services["mosquitto"]["volumes"] == ["./hjem.acl:/etc/mosquitto/hjem.acl:ro"]
    assert services["postgres"]["image"].startswith("postgres:")
    _local_sources_exist(compose_dir, doc, {"./hjem.passwd", "./hjem.acl", "./certs/ca.crt"})
    nodes = [services["hub-a"], services["hub-b"]]
    ports = {node["ports"][0].rsplit(":", 1)[0] for node in nodes}
    assert len(ports) == 2, "each node's dashboard on a port of its own"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for name, node in zip(("hub-a", "hub-b"), nodes, strict=True):
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
        build = node["build"]
        assert (compose_dir / build["context"] / build["dockerfile"]).resolve().exists()
        for extra in build["args"]["EXTRAS"].split(","):
            assert extra in extras["optional-dependencies"], extra
        env = node["environment"]
        assert env["HJEM_HUB_MQTT__USERNAME"] == env["HJEM_HUB_MQTT__CLIENT_ID"] == name
        assert env["HJEM_HUB_STORE__POSTGRESQL__DSN"].endswith("@postgres:5432/hjem")
        for key, value in env.items():
            monkeypatch.setenv(key, value.replace("${", "").replace("}", ""))
        settings = load_settings(compose_dir / "hub-node.toml")
        assert (settings.mqtt.username, settings.mqtt.client_id) == (name, name)
        assert (settings.mqtt.protocol, settings.mqtt.shared_group) == ("5", "hjem-hub")
        assert settings.store.kind == "postgresql"
        assert settings.mqtt.tls is not None
        mounts = {v.split(":")[1] for v in node["volumes"]}
        tls = settings.mqtt.tls
        assert {str(tls.ca_file), str(tls.cert_file), str(tls.key_file)} <= mounts
        assert "/etc/hjem/hub.toml" in mounts
        assert any(f"/clients/{name}.key:" in v for v in node["volumes"])
