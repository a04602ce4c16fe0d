"""The demo's world and configuration files, checked with the parsers the real parts use."""

from __future__ import annotations

import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.config import GATT_KINDS, parse_config
from edge.kinds import KINDS
from hjem.demo import broker_config
from hjem.demo_home import (
    HOMES,
    RULES_TOML,
    edge_config_toml,
    hub_config_toml,
    seed_registry,
    toml_text,
)
from hjem.demo_stack import (
    Child,
    ChildExitedError,
    ChildProcesses,
    PortInUseError,
    StartTimeoutError,
    check_port_free,
)
from hjem.mosquitto import free_port
from hub.admin.provision import SHIPPED_CONF, LoopbackLayout
from hub.alerts.config import parse_rules
from hub.config import load_settings
from hub.db import open_db
from hub.registry.core import Registry
from sim.radio import VirtualRadio

ALL_KINDS = {kind.name for kind in KINDS}  # the one table (tests/edge/test_kinds.py)


def test_every_device_kind_is_in_the_demo_and_addresses_are_unique() -> None:
    devices = [d for home in HOMES for d in home.devices]
    assert {d.kind for d in devices} == ALL_KINDS
    assert len({d.address for d in devices}) == len(devices)
    assert len({h.gateway_id for h in HOMES}) == len(HOMES) == 3


@pytest.mark.parametrize("home", HOMES, ids=lambda h: h.gateway_id)
def test_edge_config_parses_and_keeps_devices_and_incidents(home: object, tmp_path: Path) -> None:
    from hjem.demo_home import DemoHome

    assert isinstance(home, DemoHome)
    text = edge_config_toml(home, 18830, tmp_path / "outbox.sqlite")
    config = parse_config(tomllib.loads(text), "demo")
    assert config.radio == "virtual"
    assert config.mqtt.port == 18830
    assert config.mqtt_username == home.gateway_id
    assert config.mqtt.password is None  # it comes from the environment, not the file
    assert [d.device_id for d in config.devices] == [d.device_id for d in home.devices]
    assert [(i.kind, i.at_s) for i in config.virtual.incidents] == [
        (i.kind, i.at_s) for i in home.incidents
    ]
    gatt = sum(1 for d in config.devices if d.kind in GATT_KINDS)
    assert gatt <= config.gatt.max_connections  # every health device can stay connected


@pytest.mark.asyncio
@pytest.mark.parametrize("home", HOMES, ids=lambda h: h.gateway_id)
async def test_registry_rooms_are_where_the_virtual_radio_puts_the_sensors(
    home: object, tmp_path: Path
) -> None:
    """A room sensor's registry name is the room its virtual device reports from."""
    from hjem.demo_home import ROOM_NAMES, DemoHome

    assert isinstance(home, DemoHome)
    config = parse_config(tomllib.loads(edge_config_toml(home, 1883, tmp_path / "o.sqlite")))
    radio = VirtualRadio(config.virtual, config.devices, clock=lambda: datetime.now(UTC))
    by_address = {d.address: d for d in home.devices}
    checked = 0
    for address, device in radio.devices.items():
        described = by_address[address].description
        if device.kind == "bthome" and device.index == 0:
            assert described == "Nødkaldsknap"  # the pendant
        elif device.kind in ("bthome", "ruuvi", "xiaomi"):
            assert described == ROOM_NAMES[device.room]
            checked += 1
    assert checked >= 4


def test_hub_config_and_rules_load(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES_TOML, encoding="utf-8")
    hub_toml = tmp_path / "hub.toml"
    hub_toml.write_text(hub_config_toml(tmp_path / "db.sqlite3", rules, 1884, 8081), "utf-8")
    settings = load_settings(hub_toml)
    assert settings.mqtt.port == 1884
    assert settings.mqtt.username == "hub"
    assert settings.http.host == "127.0.0.1"
    assert settings.http.port == 8081
    assert settings.mqtt.password is None
    config = parse_rules(RULES_TOML)
    kinds = {rule.kind for rule in config.rules}
    assert {"event", "threshold", "news2", "inactivity", "gateway_offline"} <= kinds
    kitchen = next(r for r in config.rules if r.kind == "inactivity")
    assert getattr(kitchen, "room", None) == "køkken"  # the lower-cased registry description


def test_toml_text_round_trips() -> None:
    data: dict[str, object] = {
        "a": 1,
        "b": 'say "hi" \\ there',
        "c": [1, 2],
        "t": {"x": True, "rows": [{"k": 1.5}, {"k": 2.5}]},
        "items": [{"n": "one"}, {"n": "two"}],
    }
    assert tomllib.loads(toml_text(data, "header\nline two")) == data


def test_seed_registry_assigns_every_device_once(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "hub.sqlite3")
    try:
        registry = Registry(conn)
        since = datetime(2026, 11, 28, 12, tzinfo=UTC)
        assert seed_registry(registry, since) is True
        assert seed_registry(registry, since) is False  # a kept workdir: nothing added twice
        for home in HOMES:
            for device in home.devices:
                assert registry.resolve(device.device_id, since) == home.resident_id
        assert {r.name for r in registry.residents()} == {h.resident_name for h in HOMES}
        for home in HOMES:
            publisher = registry.publisher(home.gateway_id)
            assert publisher is not None
            assert publisher.home_id == home.home_id
    finally:
        conn.close()


def test_broker_config_is_the_shipped_one_without_tls(tmp_path: Path) -> None:
    layout = LoopbackLayout(
        plain_port=18831,
        tls_port=18832,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        persistence_dir=tmp_path / "data",
        cafile=tmp_path / "ca.crt",
        certfile=tmp_path / "server.crt",
        keyfile=tmp_path / "server.key",
    )
    text = broker_config(SHIPPED_CONF.read_text(encoding="utf-8"), layout)
    options = [line.split()[0] for line in text.splitlines() if line and line[0] != "#"]
    lines = text.splitlines()
    assert "listener 18831 127.0.0.1" in lines
    assert not any(o in options for o in ("cafile", "certfile", "keyfile", "require_certificate"))
    assert "allow_anonymous false" in lines
    assert f"password_file {tmp_path / 'passwd'}" in lines
    assert f"acl_file {tmp_path / 'acl'}" in lines
    assert options.count("listener") == 1


def test_port_in_use_is_named() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            check_port_free(port, "dashboard", "--http-port")
    assert f"port {port}" in str(caught.value)
    assert "--http-port" in str(caught.value)
    check_port_free(free_port(), "dashboard", "--http-port")  # a free one passes


@pytest.mark.asyncio
async def test_a_child_that_exits_during_start_is_reported_with_its_last_line(
    tmp_path: Path,
) -> None:
    script = (
        "import sys; print('starting'); print('OSError: address in use', flush=True); sys.exit(3)"
    )
    async with ChildProcesses() as children:
        child = await children.start(
            Child("hub", [sys.executable, "-c", script], tmp_path / "hub.log")
        )
        with pytest.raises(ChildExitedError) as caught:
            await children.wait_for_http(child, free_port(), "/healthz", 30)
    assert caught.value.code == 3
    assert "hub exited with status 3: OSError: address in use" in str(caught.value)


@pytest.mark.asyncio
async def test_children_are_stopped_in_reverse_order_and_slow_ones_killed(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    polite = "import time; print('up', flush=True); time.sleep(60)"
    async with ChildProcesses(stop_timeout_s=0.5) as children:
        first = await children.start(Child("a", [sys.executable, "-c", polite], tmp_path / "a"))
        second = await children.start(Child("b", [sys.executable, "-c", stubborn], tmp_path / "b"))
        for child in (first, second):
            await children.wait_for_log(child, "up", 30)
        with pytest.raises(StartTimeoutError):
            await children.wait_for_log(first, "never", 0.2)
    assert first.process is not None
    assert second.process is not None
    assert first.process.returncode == -15  # SIGTERM
    assert second.process.returncode == -9  # ignored SIGTERM: killed


@pytest.mark.parametrize("home", HOMES, ids=lambda h: h.gateway_id)
def test_history_is_a_valid_quiet_day_from_the_health_devices(home: object) -> None:
    """A day of readings per health device, accepted by the hub's validation, raising no alert
    (the scripted incidents happen live, not in the history)."""
    from hjem.demo_history import batches, history
    from hjem.demo_home import DemoHome
    from schemas.codes import codes
    from schemas.models import MAX_PAYLOAD_BYTES
    from schemas.validation import validate_batch

    assert isinstance(home, DemoHome)
    until = datetime(2026, 11, 28, 12, 7, tzinfo=UTC)
    observations = history(home, until)
    health = {d.device_id for d in home.devices if d.kind in GATT_KINDS}
    assert {o.source.device.id for o in observations} == health
    assert all(o.demo for o in observations)
    assert all(until - timedelta(hours=24) <= o.effective < until for o in observations)
    assert len({o.id for o in observations}) == len(observations)
    spo2 = codes()["spo2"].primary
    temperature = codes()["body_temperature"].primary
    checked = {"spo2": 0, "temperature": 0}
    for obs in observations:
        if obs.code[0] == spo2:
            assert float(obs.value or 0) >= 92
            checked["spo2"] += 1
        if obs.code[0] == temperature:
            assert float(obs.value or 0) < 38
            checked["temperature"] += 1
    assert checked["spo2"] >= 90  # every 15 min
    assert checked["temperature"] >= 40 or "thermometer" not in {d.kind for d in home.devices}
    payloads = batches(home.gateway_id, observations, until)
    accepted = 0
    for payload in payloads:
        assert len(payload) < MAX_PAYLOAD_BYTES
        result = validate_batch(payload, now=until, expected_publisher=home.gateway_id)
        assert result.errors == []
        accepted += len(result.accepted)
    assert accepted == len(observations)
