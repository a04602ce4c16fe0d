"""``hjem edge scan``: the installer's table of devices in range, on the virtual radio.

The radio is the simulator's (bleak backend on bumble's link) with one device of every kind
plus a foreign device (a phone) that Hjem does not know; the rows are checked for address,
name, recognised kind, whether the configuration lists the device, and the decoded reading.
The command itself runs as a subprocess as an installer runs it, including its errors.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType

from edge.config import EdgeConfig, parse_config
from edge.decoders import MANUFACTURER_DECODERS, SERVICE_DATA_DECODERS
from edge.kinds import BY_NAME, KINDS
from edge.scan import UNRECOGNISED, Survey, listening, rows, table
from sim.devices import bumble_device
from tests.support.edge import ALL_KINDS, device_list, wait_until
from tests.support.guide import GuideShell, blocks, rebase

ROOT = Path(__file__).resolve().parents[2]
HJEM = str(Path(sys.executable).parent / "hjem")
KEY = "231d39c1d7cc1ab1aee224cd096db932"
PHONE = "7C:00:00:00:00:99"
DEVICES = device_list()  # C0:00:00:00:00:10 onwards, in ALL_KINDS order
ADDRESS = {
    f"{kind}{ALL_KINDS[:n].count(kind)}": str(d["address"])
    for n, (kind, d) in enumerate(zip(ALL_KINDS, DEVICES, strict=True))
}
"""``bthome0`` (the pendant), ``bthome1`` (encrypted), ``xiaomi0`` (ATC1441), ``xiaomi1`` ..."""
TEMPERATURE = re.compile(r"Room temperature (\d+\.\d+) Cel")


def _config_dict() -> dict[str, object]:
    devices = [dict(d) for d in DEVICES]
    devices[1]["bthome_key"] = KEY  # the second BTHome device encrypts with it
    return {
        "gateway_id": "gw-scan",
        "radio": "virtual",
        "virtual": {"advert_interval_s": 0.1},
        "devices": devices,
    }


def _config() -> EdgeConfig:
    return parse_config(_config_dict())


async def _add_phone(radio: object) -> object:
    """A device Hjem does not know: a name and Apple's company id with some bytes."""
    phone = bumble_device(radio.link, PHONE, "phone")  # type: ignore[attr-defined]
    await phone.power_on()
    data = AdvertisingData(
        [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, b"Phone"),
            (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, struct.pack("<H", 0x004C) + b"\x10\x05"),
        ]
    )
    await phone.start_advertising(
        advertising_type=AdvertisingType.UNDIRECTED,
        advertising_data=bytes(data),
        advertising_interval_min=100,
        advertising_interval_max=100,
    )
    return phone


async def _survey(config: EdgeConfig) -> Survey:
    expected = {str(d["address"]) for d in DEVICES} | {PHONE}
    async with listening(config, "hci0") as survey:
        phone = await _add_phone(survey.radio)
        await wait_until(
            lambda: expected <= set(survey.heard) and survey.heard[PHONE].name == "Phone",
            timeout=60,
            what="every virtual device and the phone in the scan",
        )
        await phone.stop_advertising()  # type: ignore[attr-defined]
    return survey


def _by_address(lines: list[tuple[str, ...]]) -> dict[str, dict[str, str]]:
    keys = ("address", "rssi", "name", "kind", "config", "reading")
    return {line[0]: dict(zip(keys, line, strict=True)) for line in lines}


@pytest.mark.asyncio
async def test_the_table_names_every_kind_decodes_adverts_and_lists_strangers() -> None:
    config = _config()
    survey = await _survey(config)
    found = _by_address(rows(survey, {d.address: d for d in config.devices}))
    assert set(found) == {str(d["address"]) for d in DEVICES} | {PHONE}
    for device in DEVICES:
        row = found[str(device["address"])]
        assert row["kind"] == device["kind"]
        assert row["config"] == f"ble-{row['address'].replace(':', '').lower()} ({row['kind']})"
        assert -127 <= int(row["rssi"]) <= 20
        if BY_NAME[row["kind"]].connects:
            assert row["name"] == f"Hjem {row['kind']}"  # the health devices' advertised name
            assert row["reading"].startswith("health device: readings come over a connection")
    # advertising sensors: the values the simulator's resident model puts in the adverts
    assert found[ADDRESS["bthome0"]]["reading"] == "Battery level 90 %"  # the pendant
    for sensor in ("bthome1", "xiaomi0", "xiaomi1", "ruuvi0"):
        reading = found[ADDRESS[sensor]]["reading"]
        match = TEMPERATURE.search(reading)
        assert match, reading
        assert 15 < float(match.group(1)) < 30, reading
        assert "Relative humidity" in reading
    assert "Battery level 89 %" in found[ADDRESS["bthome1"]]["reading"]  # decrypted with KEY
    assert "Air pressure 101325 Pa" in found[ADDRESS["ruuvi0"]]["reading"]
    assert found[ADDRESS["ruuvi0"]]["reading"].endswith("; +5 more")
    assert found[PHONE] == {
        "address": PHONE,
        "rssi": found[PHONE]["rssi"],
        "name": "Phone",
        "kind": UNRECOGNISED,
        "config": "no",
        "reading": "-",
    }
    # without the configuration's key, the encrypted sensor says what is missing
    unlisted = _by_address(rows(survey, {}))
    assert unlisted[ADDRESS["bthome1"]]["config"] == "no"
    assert "encrypted but no key is set" in unlisted[ADDRESS["bthome1"]]["reading"]
    text = table(rows(survey, {}))
    assert text.splitlines()[0].split() == ["ADDRESS", "RSSI", "NAME", "KIND", "CONFIG", "READING"]
    assert len(text.splitlines()) == len(found) + 1


def test_every_kind_is_recognisable_from_the_table() -> None:
    for kind in KINDS:
        assert kind.connects != kind.advertises, kind.name
        if kind.service_data is not None:
            assert kind.service_data in SERVICE_DATA_DECODERS, kind.name
        if kind.company is not None:
            assert kind.company in MANUFACTURER_DECODERS, kind.name


def _hjem(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HJEM, "edge", "scan", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _write_config(tmp_path: Path) -> Path:
    lines = ['gateway_id = "gw-scan"', 'radio = "virtual"', "[virtual]", "advert_interval_s = 0.1"]
    for device in _config_dict()["devices"]:  # type: ignore[attr-defined]
        lines.append("[[devices]]")
        lines += [f'{key} = "{value}"' for key, value in device.items()]
    path = tmp_path / "edge.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_command_prints_the_table_on_stdout(tmp_path: Path) -> None:
    run = _hjem("--config", str(_write_config(tmp_path)), "--seconds", "4")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["ADDRESS", "RSSI", "NAME", "KIND", "CONFIG", "READING"]
    kinds = {line.split()[0]: line.split()[3] for line in lines[1:]}
    assert kinds == {str(d["address"]): str(d["kind"]) for d in DEVICES}
    assert re.search(r"^\d+ devices heard in 4 s on hci0 \(virtual\)$", run.stderr, re.M)
    assert run.stderr.strip().endswith(f"{len(DEVICES)} devices heard in 4 s on hci0 (virtual)")


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (  # no BlueZ reachable (no system D-Bus here): one line with the cause
            ("--seconds", "1"),
            {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/hjem-test-bus"},
            1,
            "hjem edge: adapter hci0: cannot reach BlueZ (is bluetoothd running?)",
        ),
        (
            ("--radio", "virtual"),
            {},
            2,
            "hjem edge: the virtual radio simulates the [[devices]] of a config file",
        ),
        (("--seconds", "0"), {}, 2, "hjem edge: --seconds must be more than 0"),
        (
            ("--config", "/nonexistent/edge.toml"),
            {},
            2,
            "hjem edge: configuration error: /nonexistent/edge.toml: (file): cannot read",
        ),
    ],
)
def test_errors_are_one_line_naming_the_cause(
    args: tuple[str, ...], env: dict[str, str], code: int, message: str
) -> None:
    run = _hjem(*args, env=env)
    assert run.returncode == code, run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [run.stderr.strip()], run.stderr
    assert run.stderr.startswith(message), run.stderr


def test_a_missing_adapter_is_named(tmp_path: Path) -> None:
    run = _hjem("--config", str(_write_config(tmp_path)), "--adapter", "hci3", "--seconds", "1")
    assert run.returncode == 1
    assert run.stderr.strip() == "hjem edge: adapter hci3: no such virtual adapter (have hci0)"


def test_the_guide_command_runs_as_written(tmp_path: Path) -> None:
    """docs/edge.md's scan block, run as written (tests.support.guide: /etc under a temporary
    root) on the shipped example configuration, with the virtual radio standing in for BlueZ."""
    (block,) = [
        b
        for b in blocks((ROOT / "docs/edge.md").read_text())
        if "edge scan" in b.text and b.lang == "sh"
    ]
    (tmp_path / "etc/hjem").mkdir(parents=True)
    example = (ROOT / "deploy/edge.example.toml").read_text()
    (tmp_path / "etc/hjem/edge.toml").write_text(example)
    env = {"HJEM_EDGE_RADIO": "virtual", "HJEM_EDGE_VIRTUAL__ADVERT_INTERVAL_S": "0.2"}
    shell = GuideShell(tmp_path, ROOT, env)
    shell.start()
    try:
        output = shell.run(rebase(block.text, tmp_path, {}), label="docs/edge.md scan")
    finally:
        shell.close()
    devices = tomllib.loads(example)["devices"]
    found = {line.split()[0]: line.split()[3] for line in output.splitlines()[1:-1]}
    assert output.splitlines()[0].startswith("ADDRESS ")
    assert found == {d["address"]: d["kind"] for d in devices}
    assert output.splitlines()[-1] == f"{len(devices)} devices heard in 10 s on hci0 (virtual)"
