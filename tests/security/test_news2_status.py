"""Issue 14, "NEWS2": status reaches the score, fast/slow SpO2 never replace the normal
reading, and SpO2 scale 2 is a per-resident, audited setting that the score uses.

Source of the scale 2 bands: RCP NEWS2 chart (2017), as tabulated in Thorax ("NEWS2 scale 2
(hypercapnic patients): 83 or less 3, 84-85 2, 86-87 1, 88-92 0, 93 or more on air 0, 93-94
on O2 1, 95-96 on O2 2, 97 or more on O2 3"). PLX status bits: Bluetooth SIG GSS, PLX
Measurement Status (bit 5 measurement ongoing, 6 early estimate, 10 demonstration, 11 testing).
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.decoders import decode_gatt
from hub.admin import audit as admin_audit
from hub.admin.cli import register
from hub.alerts.inputs import ObservationInput
from hub.alerts.news2 import News2Parameter, news2, score_parameter
from hub.alerts.rules_time import News2Evaluator
from hub.alerts.wiring import Directory
from hub.db import open_db
from hub.errors import RegistryError
from hub.registry.core import Registry
from hub.registry.read_model import ReadModel
from schemas.models import AlertEvent, Observation
from tests.edge.decoders.helpers import context
from tests.support.alerts import T0, Harness, obs
from tests.support.hub_db import HubDatabases

NEWS2 = """
[[rule]]
id = "news2"
kind = "news2"
levels = [{ min_score = 5, severity = "high" }]
single_parameter_3 = "medium"
max_age_seconds = 3600
min_parameters = 1
"""


def _feed(h: Harness, observations: list[Observation], scale: int = 1) -> list[AlertEvent]:
    if scale == 1:  # the default: these items are what the hub built before issue 14
        items = [ObservationInput(o, "r-1", "h-1", "org-a") for o in observations]
    else:
        items = [ObservationInput(o, "r-1", "h-1", "org-a", spo2_scale=scale) for o in observations]
    return h.engine.observe(items)


def _plx(hex_: str) -> list[Observation]:
    return decode_gatt(0x2A5E, bytes.fromhex(hex_), context(now=T0))


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("2000", "measurement-ongoing"),
        ("4000", "early-estimate"),
        ("0004", "demonstration-data"),
        ("0008", "testing-data"),
    ],
)
def test_preliminary_demonstration_and_testing_readings_are_not_scored(
    tmp_path: Path, status: str, why: str
) -> None:
    """An early-estimate SpO2 of 85 % fired a NEWS2 alert; now no such reading is scored."""
    h = Harness(tmp_path / "hub.db", NEWS2, start=T0)
    readings = _plx("02" + "5500" + "4800" + status)  # SpO2 85 %, pulse 72, status bits
    assert why in readings[0].flags
    assert _feed(h, readings) == []
    # the same reading, final and real, does score (SpO2 85 scores 3 on scale 1)
    fired = _feed(h, _plx("02" + "5500" + "4800" + "0000"))
    assert [e.rule for e in fired] == ["news2"]


def test_fast_spo2_never_overwrites_the_normal_reading(tmp_path: Path) -> None:
    """`--gatt 2A5F 016100480058004800`: normal 97 %, fast 88 %: SpO2 scores 0, not 3."""
    h = Harness(tmp_path / "hub.db", NEWS2, start=T0)
    out = decode_gatt(0x2A5F, bytes.fromhex("016100480058004800"), context(now=T0))
    assert [o.value for o in out] == ["97", "72", "88", "72"]
    assert _feed(h, out) == []  # fast 88 % would score 3 and fire the single-parameter level
    evaluator = h.engine._evaluators["news2"]
    assert isinstance(evaluator, News2Evaluator)
    (latest,) = evaluator.latest.values()
    assert latest[News2Parameter.SPO2_SCALE_1][1] == 97


def test_scale_2_bands() -> None:
    scale = News2Parameter.SPO2_SCALE_2
    expected = {83: 3, 84: 2, 85: 2, 86: 1, 87: 1, 88: 0, 92: 0, 93: 0, 97: 0}
    assert {v: score_parameter(scale, v) for v in expected} == expected
    result = news2({scale: 89})
    assert "spo2_scale_1" not in result.missing
    assert "spo2_scale_2" not in result.missing


def test_a_resident_on_scale_2_is_scored_on_scale_2(tmp_path: Path) -> None:
    """SpO2 89 %: 3 points on scale 1 (fires), 0 on scale 2 (a COPD target of 88-92 %)."""
    h = Harness(tmp_path / "two.db", NEWS2, start=T0)
    assert _feed(h, [obs("spo2", "89", at=T0)], scale=2) == []
    low = _feed(h, [obs("spo2", "83", at=T0 + timedelta(minutes=1))], scale=2)
    assert [e.rule for e in low] == ["news2"]
    assert "spo2_scale_2 3" in low[0].summary
    one = Harness(tmp_path / "one.db", NEWS2, start=T0)
    fired = _feed(one, [obs("spo2", "89", at=T0)], scale=1)
    assert [e.rule for e in fired] == ["news2"]
    assert "spo2_scale_1 3" in fired[0].summary


def _registry(tmp_path: Path) -> tuple[sqlite3.Connection, Registry]:
    conn = open_db(tmp_path / "hub.db")
    registry = Registry(conn)
    registry.add_organisation("org-a", "A")
    registry.add_team("t-a", "org-a", "Team A")
    registry.add_home("h-1", "Home 1", "t-a")
    registry.add_resident("Ada", "h-1", resident_id="r-1")
    return conn, registry


def test_registry_keeps_the_scale_and_the_directory_hands_it_to_the_alerts(
    tmp_path: Path,
) -> None:
    conn, registry = _registry(tmp_path)
    assert registry.spo2_scale("r-1") == 1
    assert registry.set_spo2_scale("r-1", 2) == 1
    assert registry.spo2_scale("r-1") == 2
    with pytest.raises(RegistryError, match="1 or 2"):
        registry.set_spo2_scale("r-1", 3)
    with pytest.raises(RegistryError, match="no such resident"):
        registry.set_spo2_scale("r-x", 2)
    reading = obs("spo2", "89", at=T0)
    stored = SimpleNamespace(
        observations=[
            SimpleNamespace(resident_id="r-1", device_id="dev-1", reading=reading, effective=T0)
        ]
    )
    (item,) = Directory(ReadModel(conn)).observations(stored)  # type: ignore[arg-type]
    assert item.spo2_scale == 2
    assert item.resident == "r-1"


def test_hjem_admin_set_spo2_scale_is_audited(
    hub_dbs: HubDatabases, capsys: pytest.CaptureFixture[str]
) -> None:
    """On SQLite and PostgreSQL (the hub.toml names the engine)."""
    registry = Registry(hub_dbs.open())
    registry.add_organisation("org-a", "A")
    registry.add_team("t-a", "org-a", "Team A")
    registry.add_home("h-1", "Home 1", "t-a")
    registry.add_resident("Ada", "h-1", resident_id="r-1")
    config = hub_dbs.write_toml()
    parser = argparse.ArgumentParser()
    handler = register(parser)
    args = parser.parse_args(["set-spo2-scale", "r-1", "--scale", "2", "--config", str(config)])
    assert handler(args) == 0
    assert "NEWS2 SpO2 scale 2 (was 1)" in capsys.readouterr().out
    conn = hub_dbs.open()
    assert Registry(conn).spo2_scale("r-1") == 2
    (entry,) = admin_audit.admin_actions(conn, frozenset({"org-a"}))
    assert (entry.action, entry.target) == ("spo2_scale_set", "r-1")
    assert entry.detail["scale"] == 2
    assert entry.detail["previous_scale"] == 1
    bad = parser.parse_args(["set-spo2-scale", "r-x", "--scale", "2", "--config", str(config)])
    with pytest.raises(Exception, match="no such resident"):
        handler(bad)
