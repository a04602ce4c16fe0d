"""The systemd unit for the gateway: a non-root user in the bluetooth group, hardened."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "hjem-edge.service"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_unit_runs_unprivileged_restarts_and_is_hardened() -> None:
    service = unit()["Service"]
    assert service["User"] == "hjem-edge"
    assert "bluetooth" in service["SupplementaryGroups"]
    assert service["Restart"] == "on-failure"
    assert "hjem edge run --config" in service["ExecStart"]
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/hjem-edge", "only the outbox is writable"
    assert service["CapabilityBoundingSet"] == ""


def test_unit_passes_systemd_analyze() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    run = subprocess.run(
        [analyze, "verify", str(UNIT)], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in run.stderr.splitlines()
        if line.strip() and "/opt/hjem/bin/hjem" not in line  # the install path is not here
    ]
    assert problems == []
