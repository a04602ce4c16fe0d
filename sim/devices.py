"""Virtual BLE devices on a bumble link: the base class and the advertising sensors.

Each device is a bumble :class:`~bumble.device.Device` with its own virtual controller. Sensor
devices (BTHome, Ruuvi, Xiaomi) put their readings in advertisements; health devices
advertise their service and serve the standard GATT service, with measurements from the
resident model, a Current Time characteristic (their clock starts off by a few minutes until
the gateway sets it) and a Battery service.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from sim import encoders as enc
from sim.resident import ROOMS, ResidentModel

__all__ = ["SensorDevice", "VirtualDevice", "bumble_device"]

log = logging.getLogger("hjem.sim")
Clock = Callable[[], datetime]


def bumble_device(link: LocalLink, address: str, name: str) -> Device:
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
        self.device = bumble_device(link, address, f"{kind}-{index}")
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
