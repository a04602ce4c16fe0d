"""Virtual health devices: the standard GATT service, Current Time and Battery.

Measurements come from the resident model. The device clock starts a few minutes off until
the gateway sets it through Current Time (0x2A2B); glucose records wait in the meter until the
gateway asks for them through the Record Access Control Point (0x2A52).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from bumble import gatt
from bumble.core import AdvertisingData
from bumble.link import LocalLink

from edge.kinds import KINDS
from sim import encoders as enc
from sim.devices import VirtualDevice

__all__ = ["GattDevice"]

log = logging.getLogger("hjem.sim")
_ZONE = ZoneInfo("Europe/Copenhagen")
_NOTIFY = gatt.Characteristic.Properties.NOTIFY
_INDICATE = gatt.Characteristic.Properties.INDICATE
_READ = gatt.Characteristic.Properties.READ
_WRITE = gatt.Characteristic.Properties.WRITE
_RW = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE


class GattDevice(VirtualDevice):
    """A health device with its standard GATT service, Current Time and Battery."""

    connectable = True

    def __init__(self, link: LocalLink, address: str, kind: str, **kwargs: Any) -> None:
        super().__init__(link, address, kind, **kwargs)
        self.clock_offset = timedelta(minutes=7, seconds=13)  # until the gateway sets it
        self.pending: list[bytes] = []
        self.records: list[tuple[int, bytes]] = []  # glucose: (sequence number, measurement)
        self.subscribed: set[str] = set()
        self.measurement: gatt.Characteristic[bytes] | None = None
        self.continuous: gatt.Characteristic[bytes] | None = None
        self.racp: gatt.Characteristic[bytes] | None = None
        self._sequence = 0
        self._last_measure: datetime | None = None

    # -- GATT database --------------------------------------------------------------------

    _SERVICES: ClassVar[dict[str, tuple[str, str, gatt.Characteristic.Properties]]] = {
        kind.name: (
            f"{kind.service:04X}",
            f"{kind.measurement:04X}",
            _INDICATE if kind.indicate else _NOTIFY,
        )
        for kind in KINDS
        if kind.service is not None and kind.measurement is not None
    }
    """Service, measurement characteristic and its property per health kind (edge.kinds)."""

    def setup(self) -> None:
        service_uuid, char_uuid, props = self._SERVICES[self.kind]
        self.measurement = self._char(char_uuid, props)
        chars: list[gatt.Characteristic[bytes]] = [self.measurement]
        if self.kind == "pulse_oximeter":
            self.continuous = self._char("2A5F", _NOTIFY)
            chars.append(self.continuous)
        if self.kind == "glucose":
            racp_value: gatt.CharacteristicValue[bytes] = gatt.CharacteristicValue(
                write=self._on_racp
            )
            self.racp = gatt.Characteristic("2A52", _WRITE | _INDICATE, _RW, racp_value)
            self._watch(self.racp)
            chars += [self.racp, gatt.Characteristic("2A51", _READ, _RW, b"\x00\x00")]
        time_value: gatt.CharacteristicValue[bytes] = gatt.CharacteristicValue(
            read=self._read_time, write=self._write_time
        )
        time_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            "2A2B", _READ | _WRITE | _NOTIFY, _RW, time_value
        )
        battery = gatt.Characteristic("2A19", _READ | _NOTIFY, _RW, bytes([self.battery_percent]))
        self.device.add_services(
            [
                gatt.Service(service_uuid, chars),
                gatt.Service("1805", [time_char]),
                gatt.Service("180F", [battery]),
            ]
        )

    def _char(self, uuid: str, props: gatt.Characteristic.Properties) -> gatt.Characteristic[bytes]:
        char: gatt.Characteristic[bytes] = gatt.Characteristic(uuid, props | _READ, _RW, b"")
        self._watch(char)
        return char

    def _watch(self, char: gatt.Characteristic[bytes]) -> None:
        uuid = str(char.uuid)

        def on_subscription(_connection: object, notify: bool, indicate: bool) -> None:
            if notify or indicate:
                self.subscribed.add(uuid)
            else:
                self.subscribed.discard(uuid)

        char.on("subscription", on_subscription)

    def advertising_data(self, now: datetime) -> bytes:  # noqa: ARG002
        uuid = self._SERVICES[self.kind][0]
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                        bytes.fromhex(uuid)[::-1],
                    ),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, f"Hjem {self.kind}".encode()),
                ]
            )
        )

    # -- the device clock -----------------------------------------------------------------

    def device_now(self, now: datetime) -> datetime:
        return (now + self.clock_offset).astimezone(_ZONE).replace(tzinfo=None)

    def _read_time(self, _connection: object) -> bytes:
        return enc.current_time(self.device_now(self.clock()))

    def _write_time(self, _connection: object, value: bytes) -> None:
        year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", value)
        written = datetime(year, month, day, hour, minute, second, tzinfo=_ZONE)
        self.clock_offset = written - self.clock()
        if abs(self.clock_offset) < timedelta(seconds=2):
            self.clock_offset = timedelta(0)
        log.debug("%s: clock set (offset now %s)", self.address, self.clock_offset)

    # -- measurements ---------------------------------------------------------------------

    async def tick(self, now: datetime, measure: bool) -> None:
        await super().tick(now, measure)
        if not self.present:
            return
        if measure or self.kind == "heart_rate":
            self._measure(now)
        await self._deliver()

    def _measure(self, now: datetime) -> None:
        vitals = self.model.vitals(now)
        stamp = self.device_now(now)
        if self.kind == "heart_rate":
            rr = 60_000 / vitals.heart_rate_bpm
            self.pending = [enc.heart_rate_measurement(vitals.heart_rate_bpm, [rr])]
        elif self.kind == "thermometer":
            self.pending.append(
                enc.temperature_measurement(vitals.body_temperature_celsius, stamp, 3)
            )
        elif self.kind == "blood_pressure":
            self.pending.append(
                enc.blood_pressure_measurement(
                    vitals.systolic_mmhg,
                    vitals.diastolic_mmhg,
                    vitals.mean_arterial_mmhg,
                    when=stamp,
                    pulse_bpm=vitals.heart_rate_bpm,
                )
            )
        elif self.kind == "weight_scale":
            self.pending.append(enc.weight_measurement(vitals.weight_kg, when=stamp))
        elif self.kind == "pulse_oximeter":
            self.pending.append(
                enc.plx_spot_check(vitals.spo2_percent, vitals.heart_rate_bpm, stamp)
            )
        elif self.kind == "glucose":
            self._sequence += 1
            record = enc.glucose_measurement(self._sequence, stamp, vitals.glucose_mmol_per_l)
            self.records = [*self.records[-499:], (self._sequence, record)]
            # stored only: the gateway fetches records through the RACP
        self.pending = self.pending[-50:]  # a device's memory is small

    async def _deliver(self) -> None:
        char = self.measurement
        if char is None or not self.device.connections or str(char.uuid) not in self.subscribed:
            return
        pending, self.pending = self.pending, []
        send = (
            self.device.indicate_subscribers
            if _INDICATE & char.properties
            else self.device.notify_subscribers
        )
        for value in pending:
            await send(char, value)
        if self.continuous is not None and pending and str(self.continuous.uuid) in self.subscribed:
            vitals = self.model.vitals(self.clock())
            await self.device.notify_subscribers(
                self.continuous, enc.plx_continuous(vitals.spo2_percent, vitals.heart_rate_bpm)
            )

    # -- glucose record access ------------------------------------------------------------

    def _on_racp(self, _connection: object, value: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._answer_racp(bytes(value)))
        self._racp_task = task

    async def _answer_racp(self, request: bytes) -> None:
        assert self.racp is not None
        assert self.measurement is not None
        if len(request) < 2:
            await self.device.indicate_subscribers(self.racp, enc.racp_response_code(0, 3))
            return
        opcode, operator = request[0], request[1]
        if operator == 1:
            chosen = self.records
        elif operator == 3 and len(request) >= 5 and request[2] == 1:
            (minimum,) = struct.unpack_from("<H", request, 3)
            chosen = [r for r in self.records if r[0] >= minimum]
        else:
            await self.device.indicate_subscribers(self.racp, enc.racp_response_code(opcode, 4))
            return
        if opcode == 4:
            await self.device.indicate_subscribers(
                self.racp, enc.racp_number_of_records(len(chosen))
            )
            return
        if opcode != 1:
            await self.device.indicate_subscribers(self.racp, enc.racp_response_code(opcode, 2))
            return
        for _, record in chosen:
            await self.device.notify_subscribers(self.measurement, record)
        await self.device.indicate_subscribers(
            self.racp, enc.racp_response_code(opcode, 1 if chosen else 6)
        )
