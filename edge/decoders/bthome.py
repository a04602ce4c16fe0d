"""BTHome v2 service data (UUID 0xFCD2): objects, AES-CCM encryption, packet-id dedup.

Rules (https://bthome.io/format/ and /encryption/):

* byte 0 is the device information: bit 0 encrypted, bit 1 MAC included (6 bytes, reversed,
  follow), bit 2 trigger-based device, bits 3-4 reserved (refused), bits 5-7 version (2);
* encrypted payloads end with a 4-byte counter and a 4-byte MIC; the nonce is
  MAC (6) + UUID ``d2 fc`` + device information byte + counter;
* a counter that does not increase is refused (:class:`ReplayError`), except the same
  advertisement repeated byte for byte, which is dropped like a repeated packet id;
* a packet whose packet id equals the last accepted one is dropped (``[]``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from edge.decoders.bthome_objects import (
    BUTTON_EVENTS,
    COMMAND_EVENTS,
    DIMMER_EVENTS,
    OBJECTS,
    Kind,
    ObjectSpec,
)
from edge.decoders.context import DecodeContext, Emitter
from edge.decoders.errors import (
    DecryptionError,
    InvalidValueError,
    ReplayError,
    ReservedFlagError,
    TooShortError,
    UnknownFormatError,
)
from edge.decoders.ieee11073 import scaled
from schemas.models import Observation

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

__all__ = ["FORMAT", "decode_bthome", "parse_objects"]

FORMAT = "adv:bthome-v2"
_UUID_LE = b"\xd2\xfc"


@lru_cache(maxsize=256)
def _cipher(key: bytes) -> AESCCM:
    # imported here: the hub (hjem[hub], no cryptography) reads the decoders' tables
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    return AESCCM(key, tag_length=4)


def parse_objects(payload: bytes, offset: int = 0) -> list[tuple[ObjectSpec, bytes]]:
    """Split a (decrypted) payload into objects; ``offset`` only shifts error positions."""
    out: list[tuple[ObjectSpec, bytes]] = []
    pos, end = 0, len(payload)
    while pos < end:
        oid = payload[pos]
        spec = OBJECTS.get(oid)
        if spec is None:
            raise UnknownFormatError(
                FORMAT, f"unknown object id 0x{oid:02x} at byte {offset + pos}; cannot continue"
            )
        length = spec.length
        start = pos + 1
        if length is None:
            if pos + 2 > end:
                raise TooShortError(FORMAT, offset + pos + 2, offset + end, f"object 0x{oid:02x}")
            length = payload[pos + 1]
            if spec.kind is Kind.COMMAND:
                length = 1 + (length & 0x1F)
            start = pos + 2
        stop = start + length
        if stop > end:
            raise TooShortError(FORMAT, offset + stop, offset + end, f"object 0x{oid:02x}")
        out.append((spec, payload[start:stop]))
        pos = stop
    return out


def _decrypt(data: bytes, pos: int, mac: bytes, ctx: DecodeContext) -> tuple[bytes, int] | None:
    """The plaintext and counter; None for a byte-identical repeat of the last advertisement."""
    if ctx.bthome_key is None:
        raise DecryptionError(FORMAT, "advertisement is encrypted but no key is set for the device")
    if len(data) < pos + 9:
        raise TooShortError(FORMAT, pos + 9, len(data), "ciphertext, counter and MIC")
    counter_bytes = data[-8:-4]
    counter = int.from_bytes(counter_bytes, "little")
    last = ctx.state.bthome_counter
    if last is not None and counter <= last:
        if counter == last and data == ctx.state.bthome_last_encrypted:
            return None
        raise ReplayError(FORMAT, counter, last)
    nonce = mac + _UUID_LE + data[:1] + counter_bytes
    from cryptography.exceptions import InvalidTag

    try:
        plain = _cipher(ctx.bthome_key).decrypt(nonce, data[pos:-8] + data[-4:], None)
    except InvalidTag:
        raise DecryptionError(
            FORMAT, "wrong key or corrupted advertisement (message integrity check failed)"
        ) from None
    return plain, counter


def _device_mac(ctx: DecodeContext) -> bytes | None:
    address = ctx.source.device.address
    return bytes.fromhex(address.replace(":", "")) if address else None


def _payload(data: bytes, ctx: DecodeContext) -> tuple[bytes, int, int | None] | None:
    """Plaintext objects, their offset and the counter; None for a repeated advertisement."""
    info = data[0]
    if info >> 5 != 2:
        raise UnknownFormatError(FORMAT, f"BTHome version {info >> 5}; only version 2 is decoded")
    if info & 0x18:
        raise ReservedFlagError(FORMAT, "device information", info, 0x18)
    pos = 1
    if info & 0x02:  # MAC included (reversed)
        if len(data) < 7:
            raise TooShortError(FORMAT, 7, len(data), "the included MAC address")
        pos = 7
    if not info & 0x01:
        if ctx.bthome_key is not None:
            raise DecryptionError(
                FORMAT, "unencrypted advertisement from a device with a key: refused as a downgrade"
            )
        return data[pos:], pos, None
    mac = data[1:7][::-1] if pos == 7 else _device_mac(ctx)
    if mac is None:
        raise DecryptionError(FORMAT, "decryption needs the device's MAC address")
    decrypted = _decrypt(data, pos, mac, ctx)
    if decrypted is None:
        return None
    return decrypted[0], pos, decrypted[1]


def decode_bthome(data: bytes, ctx: DecodeContext) -> list[Observation]:
    """Observations from one BTHome v2 service-data value."""
    if not data:
        raise TooShortError(FORMAT, 1, 0, "device information")
    plain = _payload(data, ctx)
    if plain is None:
        return []
    payload, pos, counter = plain
    objects = parse_objects(payload, pos)
    packet_id = None
    for spec, chunk in objects:
        if spec.kind is Kind.PACKET_ID:
            packet_id = chunk[0]
            break
    if packet_id is not None and packet_id == ctx.state.bthome_packet_id:
        return []
    out = _observations(objects, Emitter(ctx, FORMAT, data), packet_id)
    state = ctx.state
    if counter is not None:
        state.bthome_counter, state.bthome_last_encrypted = counter, data
    if packet_id is not None:
        state.bthome_packet_id = packet_id
    for spec, chunk in objects:
        if spec.kind is Kind.DEVICE_TYPE:
            state.bthome_device_type = int.from_bytes(chunk, "little")
        elif spec.kind is Kind.FIRMWARE:
            state.firmware = ".".join(str(b) for b in reversed(chunk))
    return out


def _observations(
    objects: list[tuple[ObjectSpec, bytes]], emit: Emitter, packet_id: int | None
) -> list[Observation]:
    ids = [spec.object_id for spec, _ in objects]
    repeated = len(set(ids)) != len(ids)
    out: list[Observation] = []
    for index, (spec, chunk) in enumerate(objects):
        if spec.silent:
            continue
        flags = []
        if repeated and ids.count(spec.object_id) > 1:
            flags.append(f"instance-{ids[: index + 1].count(spec.object_id)}")
        extra = f"o{index}"
        kind = spec.kind
        if kind is Kind.QUANTITY:
            raw = int.from_bytes(chunk, "little", signed=spec.signed)
            value = scaled(raw, spec.multiplier, spec.places)
            out.append(
                emit.received(
                    spec.key,
                    extra,
                    flags,
                    sequence=packet_id,
                    field="value",
                    value=value,
                    unit=spec.unit,
                )
            )
        elif kind is Kind.BOOLEAN:
            if chunk[0] > 1:
                what = f"{spec.key} (object 0x{spec.object_id:02x})"
                raise InvalidValueError(FORMAT, what, chunk[0], "a binary sensor sends 0 or 1")
            out.append(
                emit.received(
                    spec.key,
                    extra,
                    flags,
                    sequence=packet_id,
                    field="value_boolean",
                    value=bool(chunk[0]),
                )
            )
        else:
            out += _event_observations(
                spec, chunk, emit, extra=extra, flags=flags, packet_id=packet_id
            )
    return out


def _event(table: dict[int, str], spec: ObjectSpec, code: int) -> str:
    event = table.get(code)
    if event is None:
        what = f"{spec.key} event (object 0x{spec.object_id:02x})"
        raise InvalidValueError(FORMAT, what, code, "not defined by BTHome")
    return event


def _event_observations(
    spec: ObjectSpec,
    chunk: bytes,
    emit: Emitter,
    *,
    extra: str,
    flags: list[str],
    packet_id: int | None,
) -> list[Observation]:
    event = _event(_EVENT_TABLES[spec.kind], spec, chunk[0])
    out = [
        emit.received(spec.key, extra, flags, sequence=packet_id, field="value_code", value=event)
    ]
    if spec.kind is Kind.DIMMER and event != "none":
        steps = str(chunk[1])
        out.append(
            emit.received(
                "dimmer_steps",
                extra + "steps",
                list(flags),
                sequence=packet_id,
                field="value",
                value=steps,
                unit="1",
            )
        )
    return out


_EVENT_TABLES = {
    Kind.BUTTON: BUTTON_EVENTS,
    Kind.COMMAND: COMMAND_EVENTS,
    Kind.DIMMER: DIMMER_EVENTS,
}
