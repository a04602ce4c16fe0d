"""Per-device state: BTHome packet-id dedup, encryption counter, repeats; Ruuvi/Xiaomi dedup;
CGM CRC requirement; cross-check of BTHome values against the bthome-ble package."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from edge.decoders import (
    DecryptionError,
    DeviceState,
    ReplayError,
    TooShortError,
    TrailingBytesError,
    decode_advertisement,
    decode_gatt,
)
from tests.edge.decoders.helpers import MAC, NOW, context, load

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC_BYTES = bytes.fromhex(MAC.replace(":", ""))


def encrypt(plain: bytes, counter: int, info: int = 0x41, key: bytes = KEY) -> bytes:
    """A BTHome v2 encrypted service-data value, built with the cryptography package."""
    count = counter.to_bytes(4, "little")
    nonce = MAC_BYTES + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, plain, None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


def adv(state: DeviceState, data: bytes, *, key: bytes | None = None, seconds: int = 0) -> list:
    ctx = context(state, key=key, now=NOW + timedelta(seconds=seconds))
    return decode_advertisement(ctx, service_data={"fcd2": data})


def test_encryption_vector_matches_cryptography() -> None:
    assert encrypt(bytes.fromhex("02CA0903BF13"), 0x00112233).hex() == (
        "41e445f3c9962b332211006c7c4519"
    )


def test_packet_id_repeat_is_dropped() -> None:
    state = DeviceState()
    first = adv(state, bytes.fromhex("40000502ca09"))
    assert [o.value for o in first] == ["25.06"]
    assert adv(state, bytes.fromhex("40000502cb09"), seconds=1) == []
    nxt = adv(state, bytes.fromhex("40000602cb09"), seconds=2)
    assert [o.value for o in nxt] == ["25.07"]
    assert first[0].id != nxt[0].id
    assert state.bthome_packet_id == 6


def test_counter_must_increase() -> None:
    state = DeviceState()
    plain = bytes.fromhex("000102ca09")
    assert len(adv(state, encrypt(plain, 10), key=KEY)) == 1
    assert state.bthome_counter == 10
    # the same advertisement heard again: dropped silently
    assert adv(state, encrypt(plain, 10), key=KEY, seconds=1) == []
    # same counter, different content: refused
    with pytest.raises(ReplayError) as info:
        adv(state, encrypt(bytes.fromhex("000202ca09"), 10), key=KEY, seconds=2)
    assert (info.value.counter, info.value.last_counter) == (10, 10)
    # older counter: refused
    with pytest.raises(ReplayError):
        adv(state, encrypt(bytes.fromhex("000302ca09"), 9), key=KEY, seconds=3)
    assert state.bthome_counter == 10
    assert len(adv(state, encrypt(bytes.fromhex("000402ca09"), 11), key=KEY, seconds=4)) == 1
    assert state.bthome_counter == 11


def test_failed_decrypt_does_not_move_state() -> None:
    state = DeviceState()
    wrong = encrypt(bytes.fromhex("000102ca09"), 50, key=bytes(16))
    with pytest.raises(DecryptionError):
        adv(state, wrong, key=KEY)
    assert state.bthome_counter is None
    assert state.bthome_packet_id is None
    assert len(adv(state, encrypt(bytes.fromhex("000102ca09"), 5), key=KEY)) == 1


def test_failed_parse_does_not_move_state() -> None:
    state = DeviceState()
    with pytest.raises(TooShortError):
        adv(state, encrypt(bytes.fromhex("000102ca"), 5), key=KEY)
    assert state.bthome_counter is None
    assert len(adv(state, encrypt(bytes.fromhex("000102ca09"), 5), key=KEY)) == 1


def test_device_information_objects_update_state() -> None:
    state = DeviceState()
    assert adv(state, bytes.fromhex("40f00100f100010204")) == []
    assert state.bthome_device_type == 1
    assert state.firmware == "4.2.1.0"
    adv(state, bytes.fromhex("40f2000106"))
    assert state.firmware == "6.1.0"


def test_ruuvi_sequence_repeat_is_dropped() -> None:
    state = DeviceState()
    data = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
    ctx = context(state)
    assert len(decode_advertisement(ctx, manufacturer_data={0x0499: data})) == 9
    assert decode_advertisement(ctx, manufacturer_data={0x0499: data}) == []
    assert state.ruuvi_sequence == 205


def test_xiaomi_counter_repeat_is_dropped() -> None:
    state = DeviceState()
    data = bytes.fromhex("a4c13812345600e62d5a0bb807")
    ctx = context(state)
    assert len(decode_advertisement(ctx, service_data={"181a": data})) == 4
    assert decode_advertisement(ctx, service_data={"181a": data}) == []


def test_cgm_crc_required_or_forbidden() -> None:
    record = bytes.fromhex("060078000500")
    state = DeviceState(cgm_e2e_crc=True)
    with pytest.raises(TooShortError):
        decode_gatt(0x2AA7, record, context(state))
    state = DeviceState(cgm_e2e_crc=False)
    with_crc = bytes.fromhex("080078000500") + b"\x00\x00"
    with pytest.raises(TrailingBytesError):
        decode_gatt(0x2AA7, with_crc, context(state))


def test_demo_context_marks_observations() -> None:
    out = decode_gatt(0x2A37, bytes.fromhex("0048"), context(demo=True))
    assert out[0].demo is True


# ---- cross-check with bthome-ble (an independent decoder) ----------------------------------


def _bthome_ble_values(data: bytes, key: bytes | None) -> dict[str, float]:
    from bthome_ble import BTHomeBluetoothDeviceData
    from habluetooth import BluetoothServiceInfoBleak

    info = BluetoothServiceInfoBleak(
        "Test", MAC, -60, {}, {"0000fcd2-0000-1000-8000-00805f9b34fb": data},
        [], "local", None, None, False, 0.0, None,
    )  # fmt: skip
    update = BTHomeBluetoothDeviceData(bindkey=key).update(info)
    return {k.key: v.native_value for k, v in update.entity_values.items()}


CROSS = {"room_temperature": "temperature", "relative_humidity": "humidity", "battery": "battery",
         "air_pressure": "pressure", "illuminance": "illuminance", "voltage": "voltage",
         "co2": "carbon_dioxide", "pm2_5": "pm25", "pm10": "pm10", "power": "power",
         "energy": "energy", "moisture": "moisture", "dew_point": "dew_point"}  # fmt: skip


@pytest.mark.parametrize(
    "vector",
    [v for v in load("adverts.json") if "expect" in v and "fcd2" in v.get("service_data", {})],
    ids=lambda v: v["name"],
)
def test_values_agree_with_bthome_ble(vector: dict) -> None:
    data = bytes.fromhex(vector["service_data"]["fcd2"])
    key = bytes.fromhex(vector["key"]) if "key" in vector else None
    theirs = _bthome_ble_values(data, key)
    ours = adv(DeviceState(), data, key=key)
    compared = 0
    for obs in ours:
        name = CROSS.get(obs.code[0].code)
        candidates = [v for k, v in theirs.items() if k == name or k.startswith(f"{name}_")]
        if name is None or obs.value is None:
            continue
        assert candidates, f"bthome-ble has no {name} for {vector['name']}: {theirs}"
        assert any(float(obs.value) == pytest.approx(float(v), abs=1e-6) for v in candidates)
        compared += 1
    assert compared == sum(1 for o in ours if o.code[0].code in CROSS and o.value is not None)
