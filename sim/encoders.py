"""Pure encoders of BLE health and sensor formats (the inverse of the decoders).

They give the virtual devices their bytes and double as round-trip checks for
:mod:`edge.decoders`. Little-endian unless a format says otherwise. References: Bluetooth SIG
GATT Specification Supplement (SFLOAT/FLOAT, 0x2A37, 0x2A1C, 0x2A35, 0x2A9D, 0x2A5E, 0x2A5F,
0x2A18, 0x2A52, 0x2A2B), bthome.io (v2 format and encryption), docs.ruuvi.com (data format 5),
pvvx/ATC_MiThermometer README (ATC1441 and pvvx custom formats).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from edge.decoders.current_time import current_time, date_time

__all__ = [
    "BTHOME_UUID16",
    "ESS_UUID16",
    "RUUVI_COMPANY_ID",
    "atc1441",
    "blood_pressure_measurement",
    "bthome_v2",
    "current_time",
    "date_time",
    "float32",
    "glucose_measurement",
    "heart_rate_measurement",
    "plx_continuous",
    "plx_spot_check",
    "pvvx",
    "racp_number_of_records",
    "racp_response_code",
    "ruuvi_rawv2",
    "sfloat",
    "temperature_measurement",
    "weight_measurement",
]

BTHOME_UUID16 = 0xFCD2
ESS_UUID16 = 0x181A
RUUVI_COMPANY_ID = 0x0499


def _mantissa_exponent(value: Decimal | str | float, digits: int) -> tuple[int, int]:
    dec = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits))
    sign, coefficient, exponent = dec.as_tuple()
    mantissa = int("".join(map(str, coefficient)) or "0") * (-1 if sign else 1)
    return mantissa, int(exponent)


def sfloat(value: Decimal | str | float, digits: int = 1) -> bytes:
    """IEEE-11073 16-bit SFLOAT with ``digits`` decimals (4-bit exponent, 12-bit mantissa)."""
    mantissa, exponent = _mantissa_exponent(value, digits)
    if not -2048 < mantissa < 2046 or not -8 <= exponent <= 7:
        raise ValueError(f"{value} does not fit an SFLOAT with {digits} decimals")
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0xFFF))


def float32(value: Decimal | str | float, digits: int = 1) -> bytes:
    """IEEE-11073 32-bit FLOAT (8-bit exponent, 24-bit mantissa)."""
    mantissa, exponent = _mantissa_exponent(value, digits)
    if not -(2**23) < mantissa < 2**23 - 2:
        raise ValueError(f"{value} does not fit a FLOAT")
    return struct.pack("<I", ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF))


def heart_rate_measurement(
    bpm: int,
    rr_intervals_ms: Sequence[float] = (),
    energy_kj: int | None = None,
    contact: bool | None = True,
) -> bytes:
    """Heart Rate Measurement (0x2A37)."""
    flags = 0x01 if bpm > 255 else 0
    if contact is not None:
        flags |= 0x06 if contact else 0x04
    if energy_kj is not None:
        flags |= 0x08
    if rr_intervals_ms:
        flags |= 0x10
    out = bytes([flags]) + (struct.pack("<H", bpm) if bpm > 255 else bytes([bpm]))
    if energy_kj is not None:
        out += struct.pack("<H", energy_kj)
    for rr in rr_intervals_ms:
        out += struct.pack("<H", round(rr * 1024 / 1000))
    return out


def temperature_measurement(
    celsius: Decimal | str | float, when: datetime | None = None, site: int | None = None
) -> bytes:
    """Temperature Measurement (0x2A1C) in °C, with optional timestamp and type (site)."""
    flags = (0x02 if when else 0) | (0x04 if site is not None else 0)
    out = bytes([flags]) + float32(celsius, 2)
    if when:
        out += date_time(when)
    if site is not None:
        out += bytes([site])
    return out


def blood_pressure_measurement(
    systolic: int,
    diastolic: int,
    mean: int,
    *,
    when: datetime | None = None,
    pulse_bpm: int | None = None,
    user: int | None = None,
    status: int | None = None,
) -> bytes:
    """Blood Pressure Measurement (0x2A35) in mmHg."""
    flags = (
        (0x02 if when else 0)
        | (0x04 if pulse_bpm is not None else 0)
        | (0x08 if user is not None else 0)
        | (0x10 if status is not None else 0)
    )
    out = bytes([flags]) + sfloat(systolic, 0) + sfloat(diastolic, 0) + sfloat(mean, 0)
    if when:
        out += date_time(when)
    if pulse_bpm is not None:
        out += sfloat(pulse_bpm, 0)
    if user is not None:
        out += bytes([user])
    if status is not None:
        out += struct.pack("<H", status)
    return out


def weight_measurement(
    kg: Decimal | str | float,
    *,
    when: datetime | None = None,
    user: int | None = None,
    bmi: Decimal | str | float | None = None,
    height_m: Decimal | str | float | None = None,
) -> bytes:
    """Weight Measurement (0x2A9D), SI units (0.005 kg, BMI 0.1, height 0.001 m)."""
    flags = (0x02 if when else 0) | (0x04 if user is not None else 0)
    if bmi is not None and height_m is not None:
        flags |= 0x08
    out = bytes([flags]) + struct.pack("<H", round(Decimal(str(kg)) / Decimal("0.005")))
    if when:
        out += date_time(when)
    if user is not None:
        out += bytes([user])
    if bmi is not None and height_m is not None:
        out += struct.pack(
            "<HH", round(Decimal(str(bmi)) * 10), round(Decimal(str(height_m)) * 1000)
        )
    return out


def plx_spot_check(
    spo2: int, pulse_bpm: int, when: datetime | None = None, status: int | None = None
) -> bytes:
    """PLX Spot-check Measurement (0x2A5E)."""
    flags = (0x01 if when else 0) | (0x02 if status is not None else 0)
    out = bytes([flags]) + sfloat(spo2, 0) + sfloat(pulse_bpm, 0)
    if when:
        out += date_time(when)
    if status is not None:
        out += struct.pack("<H", status)
    return out


def plx_continuous(spo2: int, pulse_bpm: int) -> bytes:
    """PLX Continuous Measurement (0x2A5F), the normal SpO2 and pulse rate only."""
    return bytes([0]) + sfloat(spo2, 0) + sfloat(pulse_bpm, 0)


def glucose_measurement(
    sequence: int,
    when: datetime,
    mmol_per_l: Decimal | str | float,
    sample_type: int = 1,
    location: int = 1,
) -> bytes:
    """Glucose Measurement (0x2A18) in mol/L.

    Sample type 1 = capillary whole blood, location 1 = finger.
    """
    flags = 0x02 | 0x04  # concentration, type and location present; unit mol/L
    mol = Decimal(str(mmol_per_l)) / 1000
    return (
        bytes([flags])
        + struct.pack("<H", sequence)
        + date_time(when)
        + sfloat(mol, 4)
        + bytes([(location << 4) | sample_type])
    )


def racp_number_of_records(count: int) -> bytes:
    """RACP response: Number of Stored Records Response (op code 5, operator null)."""
    return bytes([5, 0]) + struct.pack("<H", count)


def racp_response_code(request_opcode: int, code: int) -> bytes:
    """RACP response: Response Code (op code 6); code 1 success, 6 no records found."""
    return bytes([6, 0, request_opcode, code])


def bthome_v2(
    objects: Sequence[tuple[int, bytes]],
    *,
    key: bytes | None = None,
    mac: str | None = None,
    counter: int = 0,
    trigger: bool = False,
) -> bytes:
    """BTHome v2 service data (UUID 0xFCD2): device info byte, then object id + value pairs.

    With ``key``, AES-CCM encrypts the objects (nonce = MAC + UUID + device info + counter;
    the counter and a 4-byte MIC follow the ciphertext).
    """
    info = 0x40 | (0x04 if trigger else 0) | (0x01 if key else 0)
    payload = b"".join(bytes([oid]) + value for oid, value in objects)
    if key is None:
        return bytes([info]) + payload
    if mac is None:
        raise ValueError("encryption needs the device's MAC address")
    count = struct.pack("<I", counter)
    nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, payload, None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


def ruuvi_rawv2(
    *,
    temperature_celsius: float,
    humidity_percent: float,
    pressure_pa: int,
    acceleration_mg: tuple[int, int, int],
    battery_mv: int,
    tx_power_dbm: int,
    movement_counter: int,
    sequence: int,
    mac: str,
) -> bytes:
    """RuuviTag data format 5 (RAWv2) manufacturer data, without the company id."""
    power = ((battery_mv - 1600) << 5) | ((tx_power_dbm + 40) // 2)
    return struct.pack(
        ">BhHHhhhHBH",
        5,
        round(temperature_celsius / 0.005),
        round(humidity_percent / 0.0025),
        pressure_pa - 50000,
        *acceleration_mg,
        power,
        movement_counter,
        sequence,
    ) + bytes.fromhex(mac.replace(":", ""))


def atc1441(  # noqa: PLR0917 - the format's fields, in its order
    mac: str,
    temperature_celsius: float,
    humidity_percent: int,
    battery_percent: int,
    battery_mv: int,
    counter: int,
) -> bytes:
    """ATC1441 format (service data 0x181A, 13 bytes, big-endian)."""
    return bytes.fromhex(mac.replace(":", "")) + struct.pack(
        ">hBBHB",
        round(temperature_celsius * 10),
        humidity_percent,
        battery_percent,
        battery_mv,
        counter & 0xFF,
    )


def pvvx(  # noqa: PLR0917 - the format's fields, in its order
    mac: str,
    temperature_celsius: float,
    humidity_percent: float,
    battery_percent: int,
    battery_mv: int,
    counter: int,
    flags: int = 0,
) -> bytes:
    """pvvx custom format (service data 0x181A, 15 bytes, little-endian, MAC reversed)."""
    return bytes(reversed(bytes.fromhex(mac.replace(":", "")))) + struct.pack(
        "<hHHBBB",
        round(temperature_celsius * 100),
        round(humidity_percent * 100),
        battery_mv,
        battery_percent,
        counter & 0xFF,
        flags,
    )
