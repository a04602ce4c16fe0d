"""``hjem bench decode``: decoder throughput, and bthome-ble on the same BTHome payloads.

Two figures, measured in the same run as CPU time of this process (``time.process_time``, best
of several alternating rounds), so that other work on a busy machine penalises neither side:

* decodes per second over a mixed corpus (GATT health profiles, BTHome plain and encrypted,
  RuuviTag, Xiaomi custom formats), each packet with a fresh ``DecodeContext`` as the agent
  builds one per packet;
* BTHome only: Hjem's decoder against ``BTHomeBluetoothDeviceData().update(...)`` from the
  bthome-ble package (the Home Assistant parser), on identical payload sequences per device
  (rising packet ids and encryption counters, so neither side drops a packet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["decode_throughput"]

_MAC = "54:48:E6:8F:80:A5"
_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
_KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
_PACKETS_PER_DEVICE = 200
_ROUNDS = 9

# BTHome payload bodies (objects after the packet id), one "device" each
_BTHOME_BODIES = [
    "02ca0903bf13",  # temperature + humidity
    "01610c020c",  # battery + voltage
    "053f8a012101",  # illuminance + motion
    "3a01",  # button press
    "02ca0902cb0903bf13",  # two temperatures + humidity
]


def _encrypt(plain: bytes, counter: int) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    count = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(_MAC.replace(":", "")) + b"\xd2\xfc\x41" + count
    sealed = AESCCM(_KEY, tag_length=4).encrypt(nonce, plain, None)
    return b"\x41" + sealed[:-4] + count + sealed[-4:]


def _bthome_devices() -> list[tuple[bytes | None, list[bytes]]]:
    """(key, packets) per device: plain devices, and one encrypted temperature sensor."""
    devices: list[tuple[bytes | None, list[bytes]]] = []
    for body in _BTHOME_BODIES:
        packets = [
            bytes([0x40, 0x00, i % 256]) + bytes.fromhex(body) for i in range(_PACKETS_PER_DEVICE)
        ]
        devices.append((None, packets))
    encrypted = [
        _encrypt(bytes([0x00, i % 256]) + bytes.fromhex("02ca0903bf13"), 1000 + i)
        for i in range(_PACKETS_PER_DEVICE)
    ]
    devices.append((_KEY, encrypted))
    return devices


_GATT = [
    (0x2A35, "1e790051006a00e8070b1c0a0f1e4800012500"),
    (0x2A37, "192c01100000040002"),
    (0x2A1C, "066c0100ffe8070b1c0a0f1e03"),
    (0x2A9D, "0ea032e8070b1c0a0f1e02e100b406"),
    (0x2A5E, "0162004800e8070b1c0a0f1e"),
    (0x2A18, "030100e8070b1c0a0f1e000078b011"),
    (0x2AA7, "060078000500"),
]
_RUUVI = "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"
_XIAOMI = ["a4c13812345600e62d5a0bb807", "56341238c1a4fc089411b80b5a0701"]


def _ours_bthome(devices: list[tuple[bytes | None, list[bytes]]]) -> tuple[int, int]:
    from edge.decoders import DecodeContext, DeviceState, decode_advertisement
    from schemas.models import DeviceInfo, Source

    source = Source(publisher="bench", device=DeviceInfo(id="bench-1", address=_MAC))
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    decodes = observations = 0
    for key, packets in devices:
        state = DeviceState()
        for i, data in enumerate(packets):
            ctx = DecodeContext(
                source=source, now=start + timedelta(seconds=i), state=state, bthome_key=key
            )
            observations += len(decode_advertisement(ctx, service_data={_UUID: data}))
            decodes += 1
    return decodes, observations


def _theirs_bthome(devices: list[tuple[bytes | None, list[bytes]]]) -> tuple[int, int]:
    from bthome_ble import BTHomeBluetoothDeviceData
    from habluetooth import BluetoothServiceInfoBleak

    decodes = values = 0
    for key, packets in devices:
        parser = BTHomeBluetoothDeviceData(bindkey=key)
        for i, data in enumerate(packets):
            fields: dict[str, Any] = {
                "name": "Bench", "address": _MAC, "rssi": -60, "manufacturer_data": {},
                "service_data": {_UUID: data}, "service_uuids": [], "source": "local",
                "device": None, "advertisement": None, "connectable": False,
                "time": float(i), "tx_power": None,
            }  # fmt: skip
            info = BluetoothServiceInfoBleak(**fields)
            update = parser.update(info)
            values += len(update.entity_values) + len(update.binary_entity_values)
            decodes += 1
    return decodes, values


def _ours_mixed(devices: list[tuple[bytes | None, list[bytes]]]) -> tuple[int, int]:
    from edge.decoders import DecodeContext, DeviceState, decode_advertisement, decode_gatt
    from schemas.models import DeviceInfo, Source

    source = Source(publisher="bench", device=DeviceInfo(id="bench-1", address=_MAC))
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    gatt = [(uuid, bytes.fromhex(h)) for uuid, h in _GATT]
    ruuvi = bytearray.fromhex(_RUUVI)
    xiaomi = [bytearray.fromhex(h) for h in _XIAOMI]
    decodes = observations = 0
    for round_ in range(_PACKETS_PER_DEVICE):
        now = start + timedelta(seconds=round_)
        for uuid, data in gatt:
            observations += len(decode_gatt(uuid, data, DecodeContext(source, now, DeviceState())))
        ruuvi[16:18] = round_.to_bytes(2, "big")  # a new measurement sequence each round
        ctx = DecodeContext(source, now, DeviceState())
        observations += len(decode_advertisement(ctx, manufacturer_data={0x0499: bytes(ruuvi)}))
        for frame in xiaomi:
            frame[-2 if len(frame) == 15 else -1] = round_ % 256  # frame counter
            ctx = DecodeContext(source, now, DeviceState())
            observations += len(decode_advertisement(ctx, service_data={"181a": bytes(frame)}))
        decodes += len(gatt) + 1 + len(xiaomi)
    bthome_decodes, bthome_obs = _ours_bthome(devices)
    return decodes + bthome_decodes, observations + bthome_obs


def _best(func: Callable[[Any], tuple[int, int]], arg: Any, rounds: int) -> tuple[float, int, int]:
    best = float("inf")
    decodes = items = 0
    for _ in range(rounds):
        started = time.process_time()
        decodes, items = func(arg)
        best = min(best, time.process_time() - started)
    return best, decodes, items


def decode_throughput() -> None:
    """Print decodes/s for the mixed corpus, and Hjem vs bthome-ble on BTHome payloads."""
    devices = _bthome_devices()
    _ours_bthome(devices)  # warm caches (templates, ciphers) on both sides
    _theirs_bthome(devices)
    ours = theirs = (float("inf"), 0, 0)
    for _ in range(_ROUNDS):  # alternate, so load on the machine hits both alike
        ours = min(ours, _best(_ours_bthome, devices, 1))
        theirs = min(theirs, _best(_theirs_bthome, devices, 1))
    mixed = _best(_ours_mixed, devices, 3)
    print(f"mixed corpus (GATT, BTHome, Ruuvi, Xiaomi): {mixed[1] / mixed[0]:,.0f} decodes/s, "
          f"{mixed[2] / mixed[0]:,.0f} observations/s ({mixed[1]} decodes)")  # fmt: skip
    ours_rate, theirs_rate = ours[1] / ours[0], theirs[1] / theirs[0]
    print(f"BTHome, Hjem edge.decoders:       {ours_rate:,.0f} decodes/s "
          f"({ours[2] / ours[0]:,.0f} observations/s, {ours[1]} packets)")  # fmt: skip
    print(f"BTHome, bthome-ble update():      {theirs_rate:,.0f} decodes/s "
          f"({theirs[2] / theirs[0]:,.0f} values/s incl. signal strength)")  # fmt: skip
    print(f"ratio Hjem / bthome-ble:          {ours_rate / theirs_rate:.2f}x (target >= 3x)")
