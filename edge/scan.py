"""``hjem edge scan [--seconds N]``: what is in range, for the installer at the gateway.

Listens on one adapter (actively, so devices' names in scan responses arrive too) with the same
:class:`~edge.scanner.Scanner` and radio plug-ins as the agent, and prints one row per device
heard: address, RSSI, name, the kind Hjem recognises it as (from :data:`edge.kinds.KINDS`:
service-data UUID, company id, or the GATT service it advertises), whether the configuration
lists it, and the reading its advertisement decodes to with the agent's decoders (a health
device's reading needs a connection, which ``hjem edge run`` makes). Devices that match no
kind are listed as unrecognised. The configuration file is optional: without it the radio
is BlueZ (``--radio`` chooses) and adapter ``hci0``; with it, its radio, first adapter and
devices (their BThome keys decrypt readings) are used.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.config import DeviceConfig, EdgeConfig
from edge.decoders import DecodeContext, DecodeError, DeviceState, decode_advertisement, short_uuid
from edge.kinds import KINDS, KindSpec
from edge.radio import load_radio
from edge.scanner import AdvertReport, Scanner
from foundation.clock import Clock, utcnow
from schemas.models import DeviceInfo, Observation, Source

__all__ = ["Heard", "Survey", "listening", "reading", "recognise", "rows", "table"]

UNRECOGNISED = "unrecognised"
MAX_VALUES = 4
"""Values shown per device (``hjem decode`` prints them all)."""
HEADERS = ("ADDRESS", "RSSI", "NAME", "KIND", "CONFIG", "READING")


@dataclass
class Heard:
    """The latest advertisement of one device and how many were heard."""

    report: AdvertReport
    adverts: int = 1
    name: str = ""


@dataclass
class Survey:
    """The scanner's sink: the latest report per address."""

    heard: dict[str, Heard] = field(default_factory=dict)
    radio: Any = None
    """The radio plug-in's handle (the virtual radio: tests add devices through it)."""

    def put_nowait(self, item: AdvertReport) -> None:
        seen = self.heard.get(item.address)
        name = item.device.name or ""
        if name == item.device.address:  # bleak's stand-in when a device sent no name
            name = ""
        if seen is None:
            self.heard[item.address] = Heard(item, name=name)
            return
        seen.report, seen.adverts = item, seen.adverts + 1
        seen.name = name or seen.name


def recognise(report: AdvertReport) -> KindSpec | None:
    """The kind of :data:`KINDS` whose data or service the advertisement carries."""
    data_uuids = {short_uuid(u) for u in report.service_data}
    services = {short_uuid(u) for u in report.service_uuids}
    for kind in KINDS:
        if kind.service_data is not None and kind.service_data in data_uuids:
            return kind
        if kind.company is not None and kind.company in report.manufacturer_data:
            return kind
        if kind.service is not None and kind.service in services:
            return kind
    return None


def _value(obs: Observation) -> str:
    name = obs.code[0].display or obs.code[0].code
    if obs.value is not None:
        return f"{name} {obs.value}{' ' + obs.unit if obs.unit else ''}"
    if obs.value_boolean is not None:
        return f"{name} {'yes' if obs.value_boolean else 'no'}"
    if obs.value_code is not None:
        return f"{name} {obs.value_code}"
    parts = [
        f"{c.code[0].display or c.code[0].code} {c.value} {c.unit or ''}".rstrip()
        for c in obs.components
    ]
    return f"{name}: {', '.join(parts)}" if parts else name


def reading(
    report: AdvertReport, kind: KindSpec | None, device: DeviceConfig | None, now: datetime
) -> str:
    """What the advertisement says, or why it says nothing."""
    if kind is None:
        return ""
    if not kind.advertises:
        return "health device: readings come over a connection (hjem edge run)"
    device_id = device.device_id if device else "ble-" + report.address.replace(":", "").lower()
    ctx = DecodeContext(
        source=Source(publisher="scan", device=DeviceInfo(id=device_id, address=report.address)),
        now=now,
        state=DeviceState(),
        bthome_key=device.key_bytes if device else None,
    )
    try:
        observations = decode_advertisement(
            ctx, service_data=report.service_data, manufacturer_data=report.manufacturer_data
        )
    except DecodeError as exc:
        return f"undecodable: {exc}"
    except (ValueError, OverflowError) as exc:  # a value the schema refused
        return f"undecodable: {str(exc).splitlines()[0]}"
    if not observations:
        return "no reading in this advertisement"
    shown = "; ".join(_value(o) for o in observations[:MAX_VALUES])
    more = len(observations) - MAX_VALUES
    return f"{shown}; +{more} more" if more > 0 else shown


def rows(
    survey: Survey, devices: dict[str, DeviceConfig], clock: Clock = utcnow
) -> list[tuple[str, ...]]:
    """One row per device, nearest (strongest RSSI) first."""
    out: list[tuple[str, ...]] = []
    now = clock()
    ordered = sorted(survey.heard.values(), key=lambda h: (-h.report.rssi, h.report.address))
    for heard in ordered:
        report = heard.report
        kind = recognise(report)
        device = devices.get(report.address)
        config = "no" if device is None else f"{device.device_id} ({device.kind})"
        out.append(
            (
                report.address,
                str(report.rssi),
                heard.name or "-",
                kind.name if kind else UNRECOGNISED,
                config,
                reading(report, kind, device, now) or "-",
            )
        )
    return out


def table(lines: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell; the last one left ragged."""
    body = [HEADERS, *lines]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADERS) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]]).rstrip()
        for line in body
    )


@contextlib.asynccontextmanager
async def listening(
    config: EdgeConfig, adapter: str, clock: Clock = utcnow
) -> AsyncIterator[Survey]:
    """Scan ``adapter`` on the configured radio while entered; RadioError if it cannot."""
    async with contextlib.AsyncExitStack() as stack:
        kwargs: dict[str, Any] = {}
        survey = Survey()
        if config.radio != "bluez":
            backend = await stack.enter_async_context(load_radio(config.radio)(config, clock))
            kwargs, survey.radio = backend.scanner, backend.handle
        scanner = Scanner(adapter, survey, "active", kwargs)
        await scanner.start()
        stack.push_async_callback(scanner.stop)
        yield survey
