"""``hjem decode``: decode one GATT value or advertisement and print observations (JSON Lines).

Examples::

    hjem decode --gatt 2A35 1e780050006400ea070b1c0a0f004800010400
    hjem decode --service-data fcd2=4002ca0903bf13 --mac 54:48:E6:8F:80:A5
    hjem decode --service-data fcd2=41e445f3c9962b332211006c7c4519 \\
        --mac 54:48:E6:8F:80:A5 --key 231d39c1d7cc1ab1aee224cd096db932
    hjem decode --manufacturer 0499=0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F

Undecodable input exits with status 1 and one line saying why.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from foundation.clock import utcnow
from foundation.errors import CliError

if TYPE_CHECKING:
    from edge.decoders import DecodeContext

__all__ = ["register"]

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _hex(text: str, what: str) -> bytes:
    cleaned = text.replace(" ", "").replace(":", "").removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise CliError(f"{what} is not hexadecimal bytes: {text!r}") from None


def _pair(text: str, what: str) -> tuple[str, bytes]:
    key, sep, data = text.partition("=")
    if not sep or not key:
        raise CliError(f"{what} must look like KEY=HEX, got {text!r}")
    return key, _hex(data, f"{what} {key}")


def _now(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--now must be an ISO 8601 time with offset, got {text!r}") from None
    if value.tzinfo is None:
        raise CliError("--now needs a UTC offset, e.g. 2026-11-28T10:15:00Z")
    return value


def _context(args: argparse.Namespace) -> DecodeContext:
    from edge.decoders import DecodeContext, DeviceState
    from schemas.models import DeviceInfo, Source

    mac = args.mac.upper() if args.mac else None
    if mac is not None and not _MAC.match(mac):
        raise CliError(f"--mac must look like AA:BB:CC:DD:EE:FF, got {args.mac!r}")
    device_id = args.device_id or ("ble-" + mac.replace(":", "").lower() if mac else "cli-device")
    key = _hex(args.key, "--key") if args.key else None
    offset = timedelta(seconds=args.clock_offset) if args.clock_offset is not None else None
    try:
        return DecodeContext(
            source=Source(publisher="cli", device=DeviceInfo(id=device_id, address=mac)),
            now=_now(args.now),
            state=DeviceState(),
            bthome_key=key,
            clock_offset=offset,
            device_timezone=args.timezone,
        )
    except ValueError as exc:
        raise CliError(str(exc).splitlines()[0]) from None


def _decode(args: argparse.Namespace) -> int:
    from edge import decoders
    from schemas.models import encode

    ctx = _context(args)
    try:
        if args.gatt is not None:
            observations = decoders.decode_gatt(int(args.gatt, 16), _hex(args.hex, "HEX"), ctx)
        else:
            service = dict(_pair(p, "--service-data") for p in args.service_data)
            maker = {
                int(k, 16): v for k, v in (_pair(p, "--manufacturer") for p in args.manufacturer)
            }
            _check_claimed(service, maker)
            observations = decoders.decode_advertisement(
                ctx, service_data=service, manufacturer_data=maker
            )
    except decoders.DecodeError as exc:
        raise CliError(str(exc), code=1) from None
    except ValueError as exc:
        raise CliError(f"not a hexadecimal id: {exc}") from None
    out = sys.stdout.buffer
    for obs in observations:
        out.write(encode(obs) + b"\n")
    out.flush()
    return 0


def _check_claimed(service: dict[str, bytes], maker: dict[int, bytes]) -> None:
    from edge.decoders import MANUFACTURER_DECODERS, SERVICE_DATA_DECODERS, short_uuid

    if not service and not maker:
        raise CliError("give --gatt UUID HEX, --service-data UUID=HEX or --manufacturer ID=HEX")
    claimed = [u for u in service if short_uuid(u) in SERVICE_DATA_DECODERS]
    claimed += [f"{m:04x}" for m in maker if m in MANUFACTURER_DECODERS]
    if not claimed:
        raise CliError(
            "no decoder claims this advertisement (known service data: "
            + ", ".join(f"{u:04x}" for u in SERVICE_DATA_DECODERS)
            + "; manufacturer ids: "
            + ", ".join(f"{m:04x}" for m in MANUFACTURER_DECODERS)
            + ")",
            code=1,
        )


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("Examples::", 1)[1] if __doc__ else None
    parser.add_argument("--gatt", metavar="UUID", help="GATT characteristic, e.g. 2A35")
    parser.add_argument("hex", nargs="?", metavar="HEX", help="the characteristic value (--gatt)")
    parser.add_argument(
        "--service-data", action="append", default=[], metavar="UUID=HEX", help="e.g. fcd2=40..."
    )
    parser.add_argument(
        "--manufacturer", action="append", default=[], metavar="ID=HEX", help="e.g. 0499=05..."
    )
    parser.add_argument("--mac", help="device MAC address (BTHome decryption nonce)")
    parser.add_argument("--key", help="BTHome key, 32 hex digits")
    parser.add_argument("--device-id", help="device id for the observations (default from --mac)")
    parser.add_argument("--now", help="receive time, ISO 8601 with offset (default: now)")
    parser.add_argument(
        "--timezone", default="Europe/Copenhagen", help="how to read device DateTimes"
    )
    parser.add_argument(
        "--clock-offset", type=float, metavar="SECONDS", help="device clock minus true time"
    )

    def handler(args: argparse.Namespace) -> int:
        if args.gatt is not None and args.hex is None:
            raise CliError("--gatt needs the value as HEX")
        if args.gatt is None and args.hex is not None:
            raise CliError("HEX alone is ambiguous: give --gatt UUID, or use --service-data")
        return _decode(args)

    return handler
