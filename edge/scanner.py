"""Continuous BLE scanning with bleak: the detection callback only enqueues.

One :class:`Scanner` per adapter. Its callback builds a small immutable report and does
``put_nowait`` into the agent's bounded queue (a full queue drops the report and counts it);
decoding and everything else happen in the agent's own tasks. Passive scanning is used where
BlueZ supports it (it needs advertisement-monitor patterns and BlueZ's experimental
features); otherwise the scanner falls back to active scanning and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from edge.errors import RadioError

__all__ = ["AdvertReport", "ReportSink", "Scanner", "passive_patterns"]

log = logging.getLogger("hjem.edge.scan")


@dataclass(frozen=True, slots=True)
class AdvertReport:
    """One advertisement as received, for the agent's queue."""

    adapter: str
    device: BLEDevice
    rssi: int
    service_data: dict[str, bytes]
    manufacturer_data: dict[int, bytes]
    service_uuids: tuple[str, ...]
    received: float = field(default_factory=time.monotonic)

    @property
    def address(self) -> str:
        return self.device.address.upper()


class ReportSink(Protocol):
    """Where reports go: the agent's bounded queue."""

    def put_nowait(self, item: AdvertReport) -> None: ...


def passive_patterns() -> list[Any]:
    """BlueZ advertisement-monitor patterns for passive scanning: the AD types Hjem decodes."""
    from bleak.args.bluez import OrPattern
    from bleak.assigned_numbers import AdvertisementDataType

    return [
        OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xd2\xfc"),  # BTHome
        OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\x1a\x18"),  # Xiaomi custom
        OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x99\x04"),  # Ruuvi
        OrPattern(0, AdvertisementDataType.FLAGS, b"\x06"),  # connectable health devices
    ]


class Scanner:
    """Scans one adapter for as long as it is entered; :meth:`restart` recovers a stall."""

    def __init__(
        self,
        adapter: str,
        queue: ReportSink,
        mode: Literal["passive", "active"],
        backend_kwargs: dict[str, Any],
    ) -> None:
        self.adapter = adapter
        self.queue = queue
        self.mode = mode
        self.backend_kwargs = backend_kwargs
        self.last_advert = time.monotonic()
        self.adverts = 0
        self.dropped = 0
        self.restarts = 0
        self._scanner: BleakScanner | None = None
        self.failed = False
        """True when the last start failed (the adapter is reported down)."""

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self.last_advert = time.monotonic()
        self.adverts += 1
        report = AdvertReport(
            self.adapter,
            device,
            adv.rssi,
            adv.service_data,
            adv.manufacturer_data,
            tuple(adv.service_uuids),
        )
        try:
            self.queue.put_nowait(report)
        except asyncio.QueueFull:
            self.dropped += 1

    def _make(self, mode: Literal["passive", "active"]) -> BleakScanner:
        bluez: BlueZScannerArgs = {"adapter": self.adapter}
        if mode == "passive" and "backend" not in self.backend_kwargs:
            bluez["or_patterns"] = passive_patterns()
        return BleakScanner(
            self._on_advert,
            scanning_mode=mode,
            bluez=bluez,
            **self.backend_kwargs,
        )

    async def start(self) -> None:
        """Start scanning, or raise RadioError saying why (BlueZ missing, adapter absent...)."""
        try:
            await self._start()
        except RadioError:
            self.failed = True
            raise
        self.failed = False

    async def _start(self) -> None:
        try:
            self._scanner = self._make(self.mode)
            await self._scanner.start()
        except OSError as exc:
            self._scanner = None
            raise RadioError(
                self.adapter, f"cannot reach BlueZ (is bluetoothd running?): {exc}"
            ) from exc
        except BleakError as exc:
            if self.mode != "passive":
                raise RadioError(self.adapter, f"cannot start scanning: {exc}") from exc
            log.warning(
                "%s: passive scanning is not available (%s); scanning actively instead. "
                "Enable BlueZ experimental features (bluetoothd -E) for passive scanning.",
                self.adapter,
                exc,
            )
            self.mode = "active"
            try:
                self._scanner = self._make("active")
                await self._scanner.start()
            except (BleakError, OSError) as exc2:
                self._scanner = None
                raise RadioError(self.adapter, f"cannot start scanning: {exc2}") from exc2
        log.info("%s: scanning (%s)", self.adapter, self.mode)

    async def stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                await scanner.stop()
            except BleakError as exc:
                log.warning("%s: stopping the scan failed: %s", self.adapter, exc)

    async def restart(self) -> None:
        self.restarts += 1
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Scanner:
        """Start scanning; a failure is logged and left to the watchdog to retry."""
        try:
            await self.start()
        except RadioError as exc:
            log.error("%s; the watchdog will retry", exc)  # noqa: TRY400 - one clear line
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
