"""Virtual BLE devices on a bumble link: sensors that advertise, health devices with GATT.

Each device is a bumble :class:`~bumble.device.Device` with its own virtual controller. Sensor
devices (BTHome, Ruuvi, Xiaomi) put their readings in advertisements; health devices
advertise their service and serve the standard GATT service, with measurements from the
resident model, a Current Time characteristic (their clock starts off by a few minutes until
the gateway sets it) and a Battery service.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from bumble import gatt
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from edge.virtual import encoders as enc
from edge.virtual.resident import ROOMS, ResidentModel

__all__ = ["GattDevice", "SensorDevice", "VirtualDevice", "make_device"]

log = logging.getLogger("hjem.edge.virtual")
Clock = Callable[[], datetime]
_ZONE = ZoneInfo("Europe/Copenhagen")
_NOTIFY = gatt.Characteristic.Properties.NOTIFY
_INDICATE = gatt.Characteristic.Properties.INDICATE
_READ = gatt.Characteristic.Properties.READ
_WRITE = gatt.Characteristic.Properties.WRITE
_RW = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE


def _bumble_device(link: LocalLink, address: str, name: str) -> Device:
    controller = Controller(name, link=link, public_address=address)
    return Device(
        name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller))
    )


class VirtualDevice:
    """Base: one device with an address, a kind, a place in the home and a bumble stack."""

    connectable = False

    def __init__(
        self,
        link: LocalLink,
        address: str,
        kind: str,
        *,
        index: int,
        model: ResidentModel,
        clock: Clock,
        key: bytes | None = None,
    ) -> None:
        self.address = address
        self.kind = kind
        self.index = index
        self.model = model
        self.clock = clock
        self.key = key
        self.room = ROOMS[index % len(ROOMS)]
        self.device = _bumble_device(link, address, f"{kind}-{index}")
        self.present = True
        self.battery_percent = 90 - index % 40
        self.adverts = 0

    async def start(self, interval_s: float) -> None:
        self._interval_ms = interval_s * 1000
        self.setup()
        await self.device.power_on()
        await self._advertise(self.advertising_data(self.clock()))

    def setup(self) -> None:
        """Add GATT services (before power-on)."""

    def advertising_data(self, now: datetime) -> bytes:
        raise NotImplementedError

    async def _advertise(self, data: bytes) -> None:
        adv_set = self.device.legacy_advertising_set
        if adv_set is not None and adv_set.enabled:
            await adv_set.set_advertising_data(data)
            return
        await self.device.start_advertising(
            advertising_type=(
                AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE
                if self.connectable
                else AdvertisingType.UNDIRECTED
            ),
            advertising_data=data,
            advertising_interval_min=self._interval_ms,
            advertising_interval_max=self._interval_ms,
            auto_restart=self.connectable,
        )

    async def tick(self, now: datetime, measure: bool) -> None:  # noqa: ARG002
        """Refresh the advertisement (and take a measurement when ``measure``)."""
        if not self.present:
            return
        self.adverts += 1
        if not self.connectable or not self.device.connections:
            await self._advertise(self.advertising_data(now))

    async def disappear(self) -> None:
        """Fault: the device goes away (out of range, battery out)."""
        self.present = False
        adv_set = self.device.legacy_advertising_set
        if adv_set is not None:
            adv_set.auto_restart = False  # gone means gone: no advertising after the link drops
        await self.device.stop_advertising()
        for connection in list(self.device.connections.values()):
            await connection.disconnect()

    async def reappear(self) -> None:
        self.present = True
        await self._advertise(self.advertising_data(self.clock()))

    async def drop_connections(self) -> None:
        """Fault: the link to the gateway is lost."""
        for connection in list(self.device.connections.values()):
            await connection.disconnect()


class SensorDevice(VirtualDevice):
    """BTHome room sensor or pendant, RuuviTag, or Xiaomi thermometer (ATC1441 / pvvx)."""

    def __init__(
        self, link: LocalLink, address: str, kind: str, *, garbage_every: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(link, address, kind, **kwargs)
        self.garbage_every = garbage_every
        self.packet_id = 0
        self.counter = 0
        self._last_tick: datetime | None = None
        self._pressed_until: datetime | None = None

    def _climate(self, now: datetime) -> tuple[float, float]:
        noise = self.model._noise(100 + self.index, now, 300)
        heated = 21.5 + (0.8 if self.room == self.model.room(now) else 0.0)
        return round(heated + 0.3 * noise, 2), round(45 + 5 * noise, 2)

    def advertising_data(self, now: datetime) -> bytes:
        flags = (AdvertisingData.FLAGS, bytes([0x06]))
        if self.kind == "ruuvi":
            body = struct.pack("<H", enc.RUUVI_COMPANY_ID) + self._ruuvi(now)
            return bytes(
                AdvertisingData([flags, (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, body)])
            )
        if self.kind == "xiaomi":
            payload = self._xiaomi(now)
            uuid = enc.ESS_UUID16
        else:
            payload = self._bthome(now)
            uuid = enc.BTHOME_UUID16
        service = (AdvertisingData.SERVICE_DATA_16_BIT_UUID, struct.pack("<H", uuid) + payload)
        return bytes(AdvertisingData([flags, service]))

    @property
    def is_pendant(self) -> bool:
        return self.index == 0

    def _bthome(self, now: datetime) -> bytes:
        self.counter += 1
        if self.garbage_every and self.counter % self.garbage_every == 0:
            return b"\x40\x02\x01"  # a temperature object cut short: undecodable
        if self.is_pendant:
            previous = self._last_tick or now
            self._last_tick = now
            if self.model.fell_between(previous, now):
                self._pressed_until = now + timedelta(seconds=3)
                self.packet_id = (self.packet_id + 1) & 0xFF
            objects = [(0x00, bytes([self.packet_id])), (0x01, bytes([self.battery_percent]))]
            if self._pressed_until is not None and now < self._pressed_until:
                objects.append((0x3A, bytes([0x01])))  # button: press (the alarm)
            return enc.bthome_v2(objects)
        self.packet_id = (self.packet_id + 1) & 0xFF
        temperature, humidity = self._climate(now)
        motion = self.room == self.model.room(now) and self.model.moving(now)
        objects = [
            (0x00, bytes([self.packet_id])),
            (0x01, bytes([self.battery_percent])),
            (0x02, struct.pack("<h", round(temperature * 100))),
            (0x03, struct.pack("<H", round(humidity * 100))),
            (0x21, bytes([1 if motion else 0])),
        ]
        return enc.bthome_v2(objects, key=self.key, mac=self.address, counter=self.counter)

    def _ruuvi(self, now: datetime) -> bytes:
        self.counter = (self.counter + 1) & 0xFFFF
        temperature, humidity = self._climate(now)
        return enc.ruuvi_rawv2(
            temperature_celsius=temperature,
            humidity_percent=humidity,
            pressure_pa=101_325,
            acceleration_mg=(0, 0, 1000),
            battery_mv=2950,
            tx_power_dbm=4,
            movement_counter=self.counter & 0xFF,
            sequence=self.counter,
            mac=self.address,
        )

    def _xiaomi(self, now: datetime) -> bytes:
        self.counter += 1
        temperature, humidity = self._climate(now)
        if int(self.address[-1], 16) % 2 == 0:
            return enc.atc1441(
                self.address, temperature, round(humidity), self.battery_percent, 2900, self.counter
            )
        return enc.pvvx(
            self.address, temperature, humidity, self.battery_percent, 2900, self.counter
        )


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
        "heart_rate": ("180D", "2A37", _NOTIFY),
        "thermometer": ("1809", "2A1C", _INDICATE),
        "blood_pressure": ("1810", "2A35", _INDICATE),
        "weight_scale": ("181D", "2A9D", _INDICATE),
        "pulse_oximeter": ("1822", "2A5E", _INDICATE),
        "glucose": ("1808", "2A18", _NOTIFY),
    }

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


def make_device(
    link: LocalLink,
    address: str,
    kind: str,
    *,
    index: int,
    model: ResidentModel,
    clock: Clock,
    key: bytes | None = None,
    garbage_every: int = 0,
) -> VirtualDevice:
    if kind in ("bthome", "ruuvi", "xiaomi"):
        return SensorDevice(
            link,
            address,
            kind,
            index=index,
            model=model,
            clock=clock,
            key=key,
            garbage_every=garbage_every,
        )
    return GattDevice(link, address, kind, index=index, model=model, clock=clock, key=key)
