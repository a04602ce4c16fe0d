"""The agent in-process on the virtual radio, against a real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.config import parse_config
from hjem.mosquitto import Mosquitto
from schemas.codes import codes
from schemas.models import Observation, StatusKind
from tests.support.edge import agent_config_dict, collector, device_list, wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]


def _key(obs: Observation) -> str:
    primary = obs.code[0]
    return codes().by_primary(primary.system, primary.code)[0].key


async def test_virtual_devices_reach_the_broker_and_validate(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = parse_config(agent_config_dict(tmp_path, broker.port))
    stored: list[Observation] = []
    async with collector(broker.port) as got, Agent(config) as agent:
        agent.taps.append(stored.extend)
        wanted = {
            "heart_rate",
            "body_temperature",
            "blood_pressure",
            "body_weight",
            "spo2",
            "room_temperature",
            "relative_humidity",
            "motion",
            "battery",
        }
        await wait_until(
            lambda: (
                wanted <= {_key(o) for o in stored}
                and any(o.raw is not None and o.raw.format == "gatt:2a18" for o in stored)
            ),
            timeout=30,
            what=f"observations of {sorted(wanted)} and a glucose record",
        )
        await wait_until(
            lambda: {o.id for o in stored} <= got.unique(), what="every stored id at the broker"
        )
        await wait_until(lambda: any(s.kind == StatusKind.HEARTBEAT for s in got.statuses))
        assert agent.gatt is not None
        assert agent.gatt.clock_sets >= 5, "the clock of every GATT device with 0x2A2B was set"
        glucose = next(d["address"] for d in device_list() if d["kind"] == "glucose")
        assert agent._last_sequence(str(glucose)) is not None, "last RACP sequence persisted"
    assert got.errors == [], got.errors[:5]
    records = [o for o in stored if o.raw and o.raw.format == "gatt:2a18"]
    first = records[0]
    assert first.clock_corrected, "stamped by the unset clock, corrected by the measured offset"
    assert first.device_time is not None
    from datetime import datetime
    from zoneinfo import ZoneInfo

    shown = datetime.fromisoformat(first.device_time).replace(tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert abs((shown - first.effective).total_seconds() - 433) < 2, "7 min 13 s taken off"
    formats = {o.raw.format for o in stored if o.raw}
    assert {"adv:bthome-v2", "adv:ruuvi-5", "adv:atc1441", "adv:pvvx"} <= formats
    from datetime import UTC, timedelta

    ahead = [o for o in stored if o.effective > datetime.now(UTC) + timedelta(seconds=2)]
    assert ahead == [], "no reading dated after its arrival (old device clock not corrected)"
    heartbeat = next(s for s in reversed(got.statuses) if s.kind == StatusKind.HEARTBEAT)
    assert heartbeat.adapters[0].state == "scanning"
    assert heartbeat.outbox_depth is not None
    assert {d.id for d in heartbeat.devices} >= {"ble-c00000000010", "ble-c0000000001a"}
    assert any(d.battery_percent is not None for d in heartbeat.devices)
    assert any(d.rssi_dbm is not None for d in heartbeat.devices)
    assert got.statuses[-1].kind == StatusKind.DEATH, "an orderly stop publishes death"


async def test_connections_never_exceed_the_limit(tmp_path: Path, broker: Mosquitto) -> None:
    config = parse_config(
        agent_config_dict(
            tmp_path, broker.port, gatt={"max_connections": 2, "idle_disconnect_s": 0.5}
        )
    )
    async with Agent(config) as agent:
        assert agent.radio is not None
        adapter = agent.radio.adapter("hci0")
        most = 0
        for _ in range(60):
            most = max(most, len(adapter.device.connections))
            await asyncio.sleep(0.1)
        assert agent.gatt is not None
        assert agent.gatt.peak_active <= 2
        assert most <= 2
        connected_ever = [a for a, s in agent.gatt.sessions.items() if s.task is not None]
        assert len(connected_ever) >= 3, "slots are freed and reused by other devices"


async def test_garbage_from_a_device_is_reported_and_the_agent_keeps_going(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = parse_config(
        agent_config_dict(
            tmp_path,
            broker.port,
            devices=device_list(("bthome", "bthome", "ruuvi")),
            virtual={"garbage_every": 3},
        )
    )
    stored: list[Observation] = []
    async with collector(broker.port) as got, Agent(config) as agent:
        agent.taps.append(stored.extend)
        await wait_until(lambda: agent.decode_errors >= 3, what="decode errors")
        before = len(stored)
        await wait_until(lambda: len(stored) > before + 10, what="observations after the errors")
        await wait_until(lambda: {o.id for o in stored} <= got.unique(), what="all at the broker")
        errors = {d.device_id: d.decode_errors for d in agent.health.devices.values()}
    assert errors["ble-c00000000011"] > 0
    assert "too short" in (agent.health.devices["C0:00:00:00:00:11"].last_error or "")
    assert got.errors == []


async def test_silent_adapter_is_restarted_then_power_cycled(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = parse_config(
        agent_config_dict(
            tmp_path,
            broker.port,
            devices=device_list(("ruuvi", "xiaomi")),
            watchdog={"timeout_s": 0.6, "check_interval_s": 0.1},
        )
    )
    async with collector(broker.port) as got, Agent(config) as agent:
        await wait_until(lambda: agent.scanners["hci0"].adverts > 5, what="adverts")
        agent.radio.silence_adapter("hci0")
        await wait_until(lambda: agent.watch["hci0"].stage >= 1, what="a scan restart")
        assert agent.status(StatusKind.HEARTBEAT).adapters[0].state == "recovering"
        await wait_until(lambda: agent.radio.adapter("hci0").power_cycles >= 1, what="power cycle")
        seen = agent.scanners["hci0"].adverts
        await wait_until(lambda: agent.scanners["hci0"].adverts > seen + 3, what="adverts again")
        await wait_until(lambda: agent.watch["hci0"].stage == 0, what="healthy again")
        assert agent.watch["hci0"].recoveries >= 2
        await wait_until(
            lambda: any(s.adapters and s.adapters[0].recoveries >= 2 for s in got.statuses),
            what="the recoveries in a heartbeat",
        )


async def test_lost_connection_and_vanished_device_reconnect(
    tmp_path: Path, broker: Mosquitto
) -> None:
    devices = device_list(("heart_rate",))
    address = str(devices[0]["address"])
    config = parse_config(agent_config_dict(tmp_path, broker.port, devices=devices))
    async with Agent(config) as agent:
        assert agent.gatt is not None
        await wait_until(lambda: agent.gatt.connected(address), what="a connection")
        await agent.radio.drop_connection(address)
        await wait_until(lambda: not agent.gatt.connected(address), what="the loss noticed")
        await wait_until(lambda: agent.gatt.connected(address), what="a reconnection")
        await agent.radio.disappear(address)
        await wait_until(lambda: not agent.gatt.connected(address), what="the device gone")
        await asyncio.sleep(0.5)
        assert not agent.gatt.connected(address)
        await agent.radio.reappear(address)
        await wait_until(lambda: agent.gatt.connected(address), what="reconnected on return")


async def test_broker_outage_loses_no_observation(tmp_path: Path, broker: Mosquitto) -> None:
    config = parse_config(
        agent_config_dict(tmp_path, broker.port, devices=device_list(("bthome", "ruuvi", "xiaomi")))
    )
    stored: list[Observation] = []
    async with Agent(config) as agent:
        agent.taps.append(stored.extend)
        async with collector(broker.port) as first:
            await wait_until(lambda: len(first.ids) > 10, what="observations before the outage")
        broker.stop()
        before = len(stored)
        await wait_until(lambda: agent.outbox.depth > 20, what="a backlog in the outbox")
        assert len(stored) > before
        broker.start()
        async with collector(broker.port) as second:
            await wait_until(
                lambda: agent.outbox.depth == 0 and len(stored) > before + 40, what="drain"
            )
            ids = {o.id for o in stored}
            await wait_until(lambda: ids <= first.unique() | second.unique(), what="every id")
    assert ids <= first.unique() | second.unique()


async def test_without_bluez_the_agent_keeps_running_and_reports_the_adapter_down(
    tmp_path: Path, broker: Mosquitto
) -> None:
    if Path("/run/dbus/system_bus_socket").exists():
        pytest.skip("this machine has a system D-Bus (BlueZ may really be there)")
    config = parse_config(
        agent_config_dict(
            tmp_path,
            broker.port,
            radio="bluez",
            devices=[],
            watchdog={"timeout_s": 0.3, "check_interval_s": 0.1},
        )
    )
    async with collector(broker.port) as got, Agent(config) as agent:
        await wait_until(
            lambda: any(s.kind == StatusKind.HEARTBEAT for s in got.statuses), what="a heartbeat"
        )
        await wait_until(lambda: agent.watch["hci0"].recoveries >= 2, what="recovery attempts")
        status = agent.status(StatusKind.HEARTBEAT)
    assert status.adapters[0].state == "down"
    assert agent.scanners["hci0"].failed


async def test_two_adapters_both_scan_and_connect(tmp_path: Path, broker: Mosquitto) -> None:
    devices = device_list(("ruuvi", "xiaomi", "heart_rate"))
    config = parse_config(
        agent_config_dict(
            tmp_path, broker.port, devices=devices, scan={"adapters": ["hci0", "hci1"]}
        )
    )
    async with Agent(config) as agent:
        assert agent.gatt is not None
        heart = str(devices[2]["address"])
        await wait_until(
            lambda: all(s.adverts > 3 for s in agent.scanners.values()), what="both adapters"
        )
        await wait_until(lambda: agent.gatt.connected(heart), what="a GATT connection")
        status = agent.status(StatusKind.HEARTBEAT)
    assert [a.name for a in status.adapters] == ["hci0", "hci1"]
    assert all(a.adverts_per_minute > 0 for a in status.adapters)


async def test_a_scripted_fall_reaches_the_broker_as_a_pendant_press(
    tmp_path: Path, broker: Mosquitto
) -> None:
    config = parse_config(
        agent_config_dict(
            tmp_path,
            broker.port,
            devices=device_list(("bthome", "bthome")),
            virtual={"incidents": [{"kind": "fall", "at_s": 0.5, "duration_s": 60}]},
        )
    )
    stored: list[Observation] = []
    async with collector(broker.port) as got, Agent(config) as agent:
        agent.taps.append(stored.extend)
        await wait_until(
            lambda: any(o.value_code == "press" for o in stored), what="the pendant's press"
        )
        press = next(o for o in stored if o.value_code == "press")
        await wait_until(lambda: press.id in got.unique(), what="the press at the broker")
    assert _key(press) == "button"
    assert press.source.device.id == "ble-c00000000010", "the first BTHome device is the pendant"
    assert press.demo
    assert sum(o.value_code == "press" for o in stored) == 1, "repeats of the packet are dropped"


async def test_a_reading_stamped_after_its_arrival_is_recognised() -> None:
    from datetime import UTC, datetime, timedelta

    from edge.agent import stamped_ahead
    from schemas.builders import make_observation
    from schemas.models import DeviceInfo, Source

    source = Source(publisher="gw1", device=DeviceInfo(id="ble-1"))
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def obs(ahead_s: float, device_time: str | None, corrected: bool = False) -> Observation:
        return make_observation(
            "spo2",
            source=source,
            value="97",
            device_time=device_time,
            clock_corrected=corrected,
            effective=now + timedelta(seconds=ahead_s),
        )

    assert stamped_ahead([obs(433, "2026-11-28T13:07:13")], now)
    assert not stamped_ahead([obs(1, "2026-11-28T13:00:01")], now)  # within tolerance
    assert not stamped_ahead([obs(433, None)], now)  # no device timestamp: nothing to fix
    assert not stamped_ahead([obs(433, "2026-11-28T13:07:13", corrected=True)], now)
