"""``hjem decode`` end to end, the flags table against the docs, and the observation builder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.decoders import flags as flag_table
from edge.decoders.context import Emitter, TimeInfo
from edge.decoders.gatt_glucose import CGM_FLAGS, GLUCOSE_ANNUNCIATION_FLAGS
from edge.decoders.gatt_plx import DEVICE_STATUS_FLAGS, MEASUREMENT_STATUS_FLAGS
from edge.decoders.gatt_vitals import BP_PULSE_RANGE, BP_STATUS
from edge.decoders.sensors import PVVX_FLAGS
from hjem.cli import main
from schemas.builders import make_observation
from schemas.models import DataAbsentReason, Observation, ObservationStatus
from tests.edge.decoders.helpers import NOW, context

ROOT = Path(__file__).resolve().parents[3]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["decode", "--now", "2026-11-28T12:00:00Z", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_cli_gatt(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "--gatt", "2A35", "1e790051006a00e8070b1c0a0f1e4800012500")
    assert code == 0
    assert [obs["code"][0]["code"] for obs in lines] == ["150020", "149546"]
    assert lines[0]["components"][0]["value"] == "121"
    assert lines[0]["raw"] == {
        "format": "gatt:2a35",
        "data": "1e790051006a00e8070b1c0a0f1e4800012500",
    }
    assert lines[1]["value"] == "72"


def test_cli_service_data_with_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(
        capsys,
        "--service-data", "fcd2=41e445f3c9962b332211006c7c4519",
        "--mac", "54:48:e6:8f:80:a5",
        "--key", "231d39c1d7cc1ab1aee224cd096db932",
    )  # fmt: skip
    assert code == 0
    assert [(obs["value"], obs["unit"]) for obs in lines] == [("25.06", "Cel"), ("50.55", "%")]
    assert lines[0]["source"]["device"] == {
        "id": "ble-5448e68f80a5",
        "address": "54:48:E6:8F:80:A5",
    }


def test_cli_manufacturer(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(
        capsys, "--manufacturer", "0499=0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"
    )
    assert code == 0
    assert len(lines) == 9
    assert lines[0]["value"] == "24.300"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gatt", "2A35", "1e7800"], "gatt:2a35: too short: needs 19 bytes, got 3"),
        (["--gatt", "2A37", "e048"], "reserved bits set in flags"),
        (["--gatt", "2AA7", "080078000500ffff"], "bad E2E-CRC"),
        (
            [
                "--service-data", "fcd2=41e445f3c9962b332211006c7c4519",
                "--mac", "54:48:E6:8F:80:A5", "--key", "00" * 16,
            ],
            "wrong key",
        ),
        (["--manufacturer", "004c=0215"], "no decoder claims this advertisement"),
        (["--gatt", "2A99", "00"], "no decoder for characteristic 0x2A99"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, lines, err = _run(capsys, *args)
    assert code == 1
    assert lines == []
    assert err.count("\n") == 1
    assert err.startswith("hjem decode: ")
    assert message in err


@pytest.mark.parametrize(
    "args",
    [["--gatt", "2A35", "zz"], ["--gatt", "2A35"], ["--mac", "nope", "--service-data", "fcd2=40"],
     ["--service-data", "fcd2"], ["--key", "00", "--service-data", "fcd2=40"]],
)  # fmt: skip
def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, lines, err = _run(capsys, *args)
    assert code == 2
    assert lines == []
    assert err.startswith("hjem decode: ")


def test_cli_console_script() -> None:
    """The installed console script, as an installer runs it."""
    hjem = Path(sys.executable).parent / "hjem"
    done = subprocess.run(
        [str(hjem), "decode", "--service-data", "fcd2=4002ca0903bf13"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["value"] for line in done.stdout.splitlines()] == ["25.06", "50.55"]


def test_every_flag_is_documented() -> None:
    docs = (ROOT / "docs" / "decoders.md").read_text(encoding="utf-8")
    for name in flag_table.FLAGS:
        assert f"`{name}`" in docs, f"flag {name} is not in docs/decoders.md"


def test_every_emitted_flag_is_in_the_table() -> None:
    tables = [BP_STATUS, MEASUREMENT_STATUS_FLAGS, DEVICE_STATUS_FLAGS, GLUCOSE_ANNUNCIATION_FLAGS]
    tables += [PVVX_FLAGS, *CGM_FLAGS.values()]
    names = [name for table in tables for _, name in table] + list(BP_PULSE_RANGE.values())
    assert all(flag_table.is_known_flag(n) for n in names)
    assert flag_table.is_known_flag("user-12")
    assert flag_table.is_known_flag("instance-2")
    assert not flag_table.is_known_flag("user-x")


@pytest.mark.parametrize(
    ("key", "fields"),
    [
        ("room_temperature", {"value": "21.50", "unit": "Cel"}),
        ("room_temperature", {"value": "21.50"}),
        ("body_temperature", {"value": "98.6", "unit": "[degF]", "body_site": "ear"}),
        ("spo2", {"value": DataAbsentReason.ERROR, "status": ObservationStatus.PRELIMINARY}),
        ("motion", {"value_boolean": True, "sequence": 7}),
        ("button", {"value_code": "press", "flags": ["instance-1"], "demo": True}),
    ],
)
def test_emitter_equals_make_observation(key: str, fields: dict[str, object]) -> None:
    """The fast builder gives exactly what schemas.builders.make_observation gives."""
    ctx = context()
    emit = Emitter(ctx, "adv:bthome-v2", b"\x40\x02")
    when = TimeInfo(
        NOW, "2026-11-28T13:00:00", clock_corrected=True, flags=("device-clock-not-set",)
    )
    fast = emit.observation(key, when, extra="o1", **fields)  # type: ignore[arg-type]
    value = fields.pop("value", None)
    absent = value if isinstance(value, DataAbsentReason) else None
    flags = ["device-clock-not-set", *fields.pop("flags", [])]  # type: ignore[misc]
    slow = make_observation(
        key,
        source=ctx.source,
        effective=NOW,
        instant="2026-11-28T13:00:00",
        extra="o1",  # no two measures share a primary code (spo2_fast is Hjem-coded first)
        value=None if absent else value,
        data_absent_reason=absent,
        device_time="2026-11-28T13:00:00",
        clock_corrected=True,
        flags=flags,
        raw={"format": "adv:bthome-v2", "data": "4002"},
        **fields,
    )
    assert fast == slow
    assert Observation.model_validate(fast.model_dump()) == fast


@pytest.mark.parametrize(
    ("key", "field", "value", "unit"),
    [
        ("room_temperature", "value", "21.50", "Cel"),
        ("room_temperature", "value", "21.50", None),
        ("motion", "value_boolean", True, None),
        ("button", "value_code", "hold_release", None),
        ("spo2_fast", "value", "97", "%"),
        ("room_temperature", "data_absent_reason", DataAbsentReason.UNKNOWN, None),
    ],
)
def test_received_equals_observation(key: str, field: str, value: object, unit: str | None) -> None:
    """The advertisement hot path builds the same observation as the general one."""
    emit = Emitter(context(demo=True), "adv:bthome-v2", b"\x40\x02")
    fast = emit.received(key, "o3", ["instance-2"], sequence=9, field=field, value=value, unit=unit)
    kwargs: dict[str, object] = (
        {field: value} if field not in ("value", "data_absent_reason") else {}
    )
    general = emit.observation(
        key,
        emit.receive_time(),
        value=value if field in ("value", "data_absent_reason") else None,  # type: ignore[arg-type]
        unit=unit,
        extra="o3",
        flags=["instance-2"],
        sequence=9,
        **kwargs,
    )
    assert fast == general
    assert fast.demo is True
    assert Observation.model_validate(fast.model_dump()) == fast


def test_observations_share_no_mutable_lists() -> None:
    """Built from one template, yet each observation owns its lists."""
    from edge.decoders import decode_advertisement

    first, second = decode_advertisement(
        context(), service_data={"fcd2": bytes.fromhex("4002ca0902cb09")}
    )
    assert first.flags is not second.flags
    assert first.components is not second.components
