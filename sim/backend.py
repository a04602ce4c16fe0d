"""A bleak backend on the virtual radio: ``BleakScanner(backend=VirtualScanner, ...)``.

Both classes take the radio as the keyword ``virtual_radio`` (bleak passes unknown keyword
arguments through to its backend) and the adapter name in ``bluez={"adapter": "hci0"}``, as
on BlueZ. Everything above them (the agent, bleak-retry-connector) is the real code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections.abc import Coroutine
from typing import Any, Literal

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import gatt
from bumble.core import UUID, AdvertisingData, BaseBumbleError
from bumble.device import Advertisement, Connection, Peer
from bumble.hci import Address

from sim.radio import VirtualAdapter, VirtualRadio

__all__ = ["VirtualClient", "VirtualScanner", "advertisement_data"]

log = logging.getLogger("hjem.sim")
_BASE = "-0000-1000-8000-00805f9b34fb"


def _uuid_str(uuid: UUID) -> str:
    raw = bytes(uuid.to_bytes())
    if len(raw) == 2:
        return f"0000{int.from_bytes(raw, 'little'):04x}{_BASE}"
    return str(uuidlib.UUID(bytes=raw[::-1]))


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """bleak's view of a bumble advertisement report."""
    data = adv.data
    service_data: dict[str, bytes] = {}
    for uuid, payload in data.get_all(AdvertisingData.SERVICE_DATA_16_BIT_UUID):
        service_data[_uuid_str(uuid)] = bytes(payload)
    manufacturer: dict[int, bytes] = {}
    for company, payload in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA):
        manufacturer[int(company)] = bytes(payload)
    uuids: list[str] = []
    for uuid_list in data.get_all(AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS):
        uuids += [_uuid_str(u) for u in uuid_list]
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
    return AdvertisementData(
        local_name=str(name) if name is not None else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=sorted(set(uuids)),
        tx_power=None,
        rssi=int(adv.rssi),
        platform_data=(adv,),
    )


def _adapter(kwargs: dict[str, Any]) -> VirtualAdapter:
    radio = kwargs.get("virtual_radio")
    if not isinstance(radio, VirtualRadio):
        raise BleakError("the virtual backend needs virtual_radio=<VirtualRadio>")
    name = (kwargs.get("bluez") or {}).get("adapter", "hci0")
    return radio.adapter(str(name))


class VirtualScanner(BaseBleakScanner):
    """Scans on one virtual adapter; reports every advertisement (no duplicate filter)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"],
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._adapter = _adapter(kwargs)
        self._active = scanning_mode == "active"

    def _on_advertisement(self, adv: Advertisement) -> None:
        data = advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = str(adv.address).split("/")[0]
        device = self.create_or_update_device(address, address, data.local_name, adv, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self.seen_devices = {}
        if self._on_advertisement not in self._adapter.listeners:
            self._adapter.listeners.append(self._on_advertisement)
        await self._adapter.start_scanning(self._active)

    async def stop(self) -> None:
        if self._on_advertisement in self._adapter.listeners:
            self._adapter.listeners.remove(self._on_advertisement)
        if not self._adapter.listeners:
            await self._adapter.stop_scanning()


async def _connect_to_the_end(attempt: Coroutine[Any, Any, Connection]) -> Connection:
    """Await bumble's ``Device.connect``, never abandoning it half-way.

    Cancelled while the controller is connecting (the agent stopping, a caller's timeout),
    bumble forgets the attempt without cancelling it in the controller; the connection that
    completes afterwards then trips bumble's own assertion in its event handler. So a
    cancellation lets the attempt end (it is bounded by its own timeout), drops the
    connection it made, and only then propagates.
    """
    task = asyncio.ensure_future(attempt)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            made = await task
            await made.disconnect()
        raise


class VirtualClient(BaseBleakClient):
    """A GATT client over a bumble connection from a virtual adapter."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=float(kwargs.get("timeout", 10.0)),
        )
        self._adapter = _adapter(kwargs)
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:  # noqa: ARG002
        timeout = float(kwargs.get("timeout", self._timeout))
        try:
            async with self._adapter.connect_lock:
                connection = await _connect_to_the_end(
                    self._adapter.device.connect(Address(self.address), timeout=timeout)
                )
        except (TimeoutError, BaseBumbleError) as exc:
            raise BleakDeviceNotFoundError(
                self.address, f"cannot connect to {self.address}: {exc}"
            ) from exc
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            await peer.discover_services()
            for service in peer.services:
                await service.discover_characteristics()
                for char in service.characteristics:
                    await char.discover_descriptors()
        except BaseBumbleError as exc:
            await self.disconnect()
            raise BleakError(f"{self.address}: service discovery failed: {exc}") from exc
        self.services = self._collection(peer)

    def _collection(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            svc = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(svc)
            for char in service.characteristics:
                props = [
                    name.lower().replace("_", "-")
                    for name, flag in gatt.Characteristic.Properties.__members__.items()
                    if flag & char.properties
                ]
                bc = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid_str(char.uuid),
                    props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    svc,
                )
                collection.add_characteristic(bc)
                self._proxies[char.handle] = char
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, _uuid_str(desc.type), bc)
                    )
        return collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._peer = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is not None:
            self._connection = None
            self._peer = None
            try:
                async with asyncio.timeout(5):
                    await connection.disconnect()
            except (BaseBumbleError, TimeoutError) as exc:
                log.debug("%s: disconnect: %s", self.address, exc)

    async def pair(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002
        log.debug("%s: pairing is not simulated", self.address)

    async def unpair(self) -> None:
        log.debug("%s: pairing is not simulated", self.address)

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        **kwargs: Any,  # noqa: ARG002
    ) -> bytearray:
        try:
            return bytearray(await self._require().read_value(characteristic.handle))
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: read {characteristic.uuid}: {exc}") from exc

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        **kwargs: Any,  # noqa: ARG002
    ) -> bytearray:
        try:
            return bytearray(await self._require().read_value(descriptor.handle))
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: read descriptor: {exc}") from exc

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        try:
            await self._require().write_value(
                characteristic.handle, bytes(data), with_response=response
            )
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: write {characteristic.uuid}: {exc}") from exc

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        try:
            await self._require().write_value(descriptor.handle, bytes(data), with_response=True)
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: write descriptor: {exc}") from exc

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,  # noqa: ARG002
    ) -> None:
        proxy = self._proxies[characteristic.handle]
        try:
            await self._require().subscribe(proxy, lambda value: callback(bytearray(value)))
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: subscribe {characteristic.uuid}: {exc}") from exc

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        proxy = self._proxies[characteristic.handle]
        try:
            await self._require().unsubscribe(proxy)
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: unsubscribe {characteristic.uuid}: {exc}") from exc
