"""The virtual radio: encoders round-trip through the real decoders, the resident model, RACP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.config import EdgeConfig, parse_config
from edge.decoders import DecodeContext, DeviceState, decode_advertisement, decode_gatt
from edge.gatt import GattManager, GattReport
from schemas.models import DeviceInfo, Observation, Source
from sim import encoders as enc
from sim.health import GattDevice
from sim.radio import VirtualRadio
from sim.resident import Incident, ResidentModel
from tests.support.edge import device_list, wait_until

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
STAMP = datetime(2026, 11, 28, 10, 30, 5)  # a device's local wall time
MAC = "C0:00:00:00:00:21"


def _one_device(kind: str, **sections: object) -> tuple[str, EdgeConfig]:
    """A virtual-radio gateway with one device of ``kind``: its address and the config."""
    devices = device_list((kind,))
    config = {"gateway_id": "gw1", "radio": "virtual", "devices": devices, **sections}
    return str(devices[0]["address"]), parse_config(config)


def ctx(key: bytes | None = None) -> DecodeContext:
    source = Source(publisher="gw1", device=DeviceInfo(id="d1", address=MAC))
    return DecodeContext(source=source, now=NOW, state=DeviceState(), bthome_key=key)


def values(observations: list[Observation]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for obs in observations:
        out[obs.code[0].display or obs.code[0].code] = obs.value
        for comp in obs.components:
            out[comp.code[0].display or ""] = comp.value
    return out


@pytest.mark.parametrize(
    ("characteristic", "data", "expected"),
    [
        (0x2A37, enc.heart_rate_measurement(72, [833.0]), {"Heart rate": "72"}),
        (0x2A37, enc.heart_rate_measurement(300), {"Heart rate": "300"}),
        (0x2A1C, enc.temperature_measurement("37.25", STAMP, 3), {"Body temperature": "37.25"}),
        (
            0x2A35,
            enc.blood_pressure_measurement(128, 78, 95, when=STAMP, pulse_bpm=70, user=1, status=4),
            {
                "Systolic blood pressure": "128",
                "Diastolic blood pressure": "78",
                "Mean arterial pressure": "95",
                "Pulse rate (blood pressure cuff)": "70",
            },
        ),
        (0x2A9D, enc.weight_measurement("72.4", when=STAMP), {"Body weight": "72.400"}),
        (0x2A5E, enc.plx_spot_check(96, 70, STAMP), {"Oxygen saturation (SpO2)": "96"}),
        (0x2A5F, enc.plx_continuous(95, 71), {"Pulse rate (oximeter)": "71"}),
        (
            0x2A18,
            enc.glucose_measurement(5, STAMP, "6.2"),
            {"Glucose, capillary whole blood": "6.2"},
        ),
    ],
)
def test_gatt_encoders_round_trip(
    characteristic: int, data: bytes, expected: dict[str, str]
) -> None:
    decoded = values(decode_gatt(characteristic, data, ctx()))
    assert {k: decoded.get(k) for k in expected} == expected


def test_device_timestamp_survives_the_round_trip() -> None:
    (obs,) = decode_gatt(0x2A18, enc.glucose_measurement(5, STAMP, "6.2"), ctx())
    assert obs.device_time == "2026-11-28T10:30:05"
    assert obs.sequence == 5


def test_sfloat_known_values() -> None:  # worked examples of the PHD IG (FLOATS)
    assert enc.sfloat("2.00", 2) == (0xE0C8).to_bytes(2, "little")
    assert enc.sfloat("2.0", 1) == (0xF014).to_bytes(2, "little")
    assert enc.sfloat(-1234, 0) == (0x0B2E).to_bytes(2, "little")
    with pytest.raises(ValueError, match="does not fit"):
        enc.sfloat(5000, 0)


def test_advertisement_encoders_round_trip() -> None:
    ruuvi = enc.ruuvi_rawv2(
        temperature_celsius=21.5,
        humidity_percent=45.25,
        pressure_pa=101_325,
        acceleration_mg=(0, 0, 1000),
        battery_mv=2950,
        tx_power_dbm=4,
        movement_counter=3,
        sequence=7,
        mac=MAC,
    )
    got = values(decode_advertisement(ctx(), manufacturer_data={enc.RUUVI_COMPANY_ID: ruuvi}))
    assert got["Room temperature"] == "21.500"
    ess = "0000181a-0000-1000-8000-00805f9b34fb"
    atc = values(
        decode_advertisement(ctx(), service_data={ess: enc.atc1441(MAC, 21.5, 45, 80, 2900, 4)})
    )
    assert atc["Room temperature"] == "21.5"
    pvvx = values(
        decode_advertisement(ctx(), service_data={ess: enc.pvvx(MAC, 21.57, 45.5, 80, 2900, 4)})
    )
    assert pvvx["Relative humidity"] == "45.50"


def test_bthome_encryption_round_trip_and_wrong_key() -> None:
    key = bytes(range(16))
    payload = enc.bthome_v2(
        [(0x00, b"\x01"), (0x02, (2150).to_bytes(2, "little")), (0x21, b"\x01")],
        key=key,
        mac=MAC,
        counter=5,
    )
    got = decode_advertisement(ctx(key), service_data={"fcd2": payload})
    assert values(got)["Room temperature"] == "21.50"
    from edge.decoders import DecryptionError

    with pytest.raises(DecryptionError):
        decode_advertisement(ctx(bytes(16)), service_data={"fcd2": payload})


def test_resident_is_deterministic_circadian_and_scripted() -> None:
    fever_at = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    model = ResidentModel(
        7,
        (
            Incident("fever", fever_at, timedelta(hours=2)),
            Incident("fall", datetime(2026, 11, 28, 20, tzinfo=UTC)),
        ),
    )
    same = ResidentModel(7, model.incidents)
    night, afternoon = datetime(2026, 11, 28, 4, tzinfo=UTC), datetime(2026, 11, 28, 13, tzinfo=UTC)
    assert model.vitals(night) == same.vitals(night)
    assert (
        model.vitals(night).body_temperature_celsius
        < model.vitals(afternoon).body_temperature_celsius
    )
    assert model.vitals(fever_at + timedelta(minutes=5)).body_temperature_celsius >= 38.0
    assert model.room(night) == "bedroom"
    assert not model.moving(datetime(2026, 11, 28, 20, 10, tzinfo=UTC)), "no movement after a fall"
    assert model.fell_between(
        datetime(2026, 11, 28, 19, 59, tzinfo=UTC), datetime(2026, 11, 28, 20, 1, tzinfo=UTC)
    )
    spo2 = [ResidentModel(s).vitals(afternoon).spo2_percent for s in range(20)]
    assert all(90 <= v <= 100 for v in spo2)
    low = ResidentModel(1, (Incident("low_spo2", afternoon),)).vitals(afternoon)
    assert low.spo2_percent < 92


@pytest.mark.asyncio
async def test_glucose_records_are_fetched_since_the_last_sequence(tmp_path: Path) -> None:
    address, config = _one_device("glucose", virtual={"measurement_interval_s": 3600})
    async with VirtualRadio(config.virtual, config.devices) as radio:
        meter = radio.devices[address]
        assert isinstance(meter, GattDevice)
        for minute in range(6):
            meter._measure(NOW + timedelta(minutes=minute))
        assert len(meter.records) >= 6
        reports: list[GattReport] = []
        from sim.backend import VirtualClient

        manager = GattManager(
            config.gatt,
            reports.append,
            client_kwargs={"backend": VirtualClient, "virtual_radio": radio},
            last_sequence=lambda _address: 4,
            timezone="Europe/Copenhagen",
        )
        from bleak.backends.device import BLEDevice

        async with asyncio.TaskGroup() as tg:
            manager.seen(config.devices[0], BLEDevice(address, None, None), tg)
            await wait_until(
                lambda: any(r.characteristic == 0x2A18 for r in reports), what="records"
            )
            await asyncio.sleep(0.3)
            assert meter.clock_offset == timedelta(0), "the gateway set the device clock"
            for session in manager.sessions.values():
                assert session.task is not None
                session.task.cancel()
    stored = [s for s, _ in meter.records]
    sequences = [
        int.from_bytes(r.data[1:3], "little") for r in reports if r.characteristic == 0x2A18
    ]
    assert sequences == [s for s in stored if s >= 5], "only the records after #4"
    drift = timedelta(minutes=7, seconds=13)  # the virtual meter's clock before it was set
    offsets = [r.clock_offset for r in reports if r.characteristic == 0x2A18]
    assert all(o is not None and abs(o - drift) < timedelta(seconds=2) for o in offsets)
    assert len(sequences) >= 2


@pytest.mark.asyncio
async def test_a_connect_cancelled_half_way_leaves_no_connection_and_no_error() -> None:
    """Cancelling a connect while the virtual controller is connecting (the agent stopping)
    must not leave a late connection that bumble's event handler trips over."""
    from sim.backend import VirtualClient

    devices = device_list(("glucose",))
    address = str(devices[0]["address"])
    config = parse_config(
        {"gateway_id": "gw1", "radio": "virtual", "devices": devices, "virtual": {}}
    )
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        async with VirtualRadio(config.virtual, config.devices) as radio:
            for delay in (0, 1, 2, 3, 5, 8):
                client = VirtualClient(address, virtual_radio=radio)
                attempt = asyncio.create_task(client.connect())
                for _ in range(delay):
                    await asyncio.sleep(0)
                attempt.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await attempt
                await asyncio.sleep(0.2)  # a late connection-complete event would land here
                assert not client.is_connected
                for adapter in radio.adapters.values():
                    assert not adapter.device.connections, f"a connection survived ({delay})"
    finally:
        loop.set_exception_handler(None)
    assert errors == [], [str(e.get("exception") or e.get("message")) for e in errors]


@pytest.mark.asyncio
async def test_a_cancellation_that_comes_with_a_gatt_response_still_ends_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent's shutdown cancels each GATT session once. bumble waits for a GATT response
    with asyncio.wait_for, which on Python 3.11 returns the response and drops a cancellation
    that arrives with it: the session went on, stayed connected while its device sent values,
    and the shutdown never ended (the hang of ``hjem bench agent``). The race is made exact:
    the cancellation is scheduled from bumble's response handler, behind its wake-up."""
    from bleak.backends.device import BLEDevice
    from bumble import att, gatt_client

    from sim.backend import VirtualClient

    # idle_disconnect_s: the session stays until it is stopped
    address, config = _one_device("thermometer", gatt={"idle_disconnect_s": 3600})
    loop = asyncio.get_running_loop()
    cancelled: list[asyncio.Task[None]] = []
    on_gatt_pdu = gatt_client.Client.on_gatt_pdu

    def cancel_with_the_response(client: gatt_client.Client, pdu: att.ATT_PDU) -> None:
        on_gatt_pdu(client, pdu)
        session = manager.sessions.get(address)
        first_read = pdu.op_code == att.Opcode.ATT_READ_RESPONSE and not cancelled
        if first_read and session and session.connected and session.task:
            cancelled.append(session.task)  # reading the device clock, after the connect
            loop.call_soon(session.task.cancel)

    monkeypatch.setattr(gatt_client.Client, "on_gatt_pdu", cancel_with_the_response)
    async with VirtualRadio(config.virtual, config.devices) as radio:
        manager = GattManager(
            config.gatt,
            lambda _report: None,
            client_kwargs={"backend": VirtualClient, "virtual_radio": radio},
            last_sequence=lambda _address: None,
            timezone="Europe/Copenhagen",
        )
        async with asyncio.TaskGroup() as tg:
            manager.seen(config.devices[0], BLEDevice(address, None, None), tg)
            await wait_until(lambda: bool(cancelled), what="the cancellation")
            await asyncio.wait(cancelled, timeout=60)
            ended = cancelled[0].done()
            cancelled[0].cancel()  # a second cancellation ends a session that went on
        connections = [c for a in radio.adapters.values() for c in a.device.connections]
    assert ended, "the session went on after its cancellation"
    assert cancelled[0].cancelled()
    assert connections == [], "the session disconnected on its way out"
