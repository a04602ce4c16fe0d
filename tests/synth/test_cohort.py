"""hjem synth cohort: reproducible, valid against the open schema, consistent with its registry."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hjem.cli import main
from schemas.models import Batch, Observation, encode
from schemas.validation import validate_batch
from synth.cohort import CohortSpec
from synth.params import Params
from synth.writer import write_cohort

SPEC = CohortSpec(residents=12, days=10, organisations=2, seed=7, start=date(2026, 1, 5))
NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(SPEC, Params(), out)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(cohort: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert (
        main(
            [
                "synth",
                "cohort",
                "--residents",
                "12",
                "--days",
                "10",
                "--organisations",
                "2",
                "--seed",
                "7",
                "--start",
                "2026-01-05",
                "--out",
                str(again),
            ]
        )
        == 0
    )
    first, second = _files(cohort), _files(again)
    assert first.keys() == second.keys()
    assert len([k for k in first if k.startswith("fhir/")]) == 12
    for name in first:
        assert first[name] == second[name], name
    other = tmp_path / "other"
    write_cohort(CohortSpec(12, 10, 2, 8, date(2026, 1, 5)), Params(), other, ("jsonl",))
    assert (other / "observations.jsonl").read_bytes() != first["observations.jsonl"]


def test_every_line_is_what_the_models_encode_and_validates(cohort: Path) -> None:
    lines = (cohort / "observations.jsonl").read_text().splitlines()
    assert len(lines) > 1500
    per_publisher: dict[str, list[Observation]] = defaultdict(list)
    for line in lines:
        obs = Observation.model_validate_json(line)
        assert encode(obs).decode() == line
        per_publisher[obs.source.publisher].append(obs)
    kinds = set()
    for publisher, observations in per_publisher.items():
        for i in range(0, len(observations), 500):
            part = observations[i : i + 500]
            batch = Batch(message_id=f"t-{i}", publisher=publisher, sent=NOW, observations=part)
            result = validate_batch(encode(batch), now=NOW, expected_publisher=publisher)
            assert result.errors == [], (publisher, result.errors[:3])
            assert len(result.accepted) == len(part)
            kinds.update(o.code[0].code for o in part)
    # vital signs, room sensors and the fall detector are all there
    assert {"150020", "149546", "150364", "motion", "opening"} <= kinds
    table = pq.read_table(cohort / "observations.parquet")
    assert table.num_rows == len(lines)
    assert table.column("id").to_pylist() == [json.loads(x)["id"] for x in lines]


def test_every_reading_belongs_to_its_publisher_at_its_time(cohort: Path) -> None:
    """The hub's rule (hub resolver): a bound device's publisher, else a gateway of its
    resident's home, and the device assigned to a resident at the reading's time."""
    registry = json.loads((cohort / "registry.json").read_text())
    home_of = {r["id"]: r["home"] for r in registry["residents"]}
    gateways = {g["id"]: g["home"] for g in registry["gateways"]}
    spans = defaultdict(list)
    for a in registry["assignments"]:
        spans[a["device"]].append(a)
    bound = {b["device"]: b["publisher"] for b in registry["bindings"]}
    for line in (cohort / "observations.jsonl").read_text().splitlines():
        obs = json.loads(line)
        device, t = obs["source"]["device"]["id"], obs["effective"]
        live = [a for a in spans[device] if a["start"] <= t and (a["end"] is None or t < a["end"])]
        assert len(live) == 1, (device, t)
        publisher = obs["source"]["publisher"]
        if device in bound:
            assert publisher == bound[device]
        else:
            assert gateways[publisher] == home_of[live[0]["resident"]]


def test_labels_name_known_residents_and_devices(tmp_path: Path) -> None:
    cohort = tmp_path / "ill"
    frequent = Params(infection_rate=30.0, fall_rate=20.0, device_fault_per_day=0.05)
    write_cohort(SPEC, frequent, cohort)
    registry = json.loads((cohort / "registry.json").read_text())
    residents = {r["id"] for r in registry["residents"]}
    devices = {d["id"] for d in registry["devices"]}
    labels = [json.loads(x) for x in (cohort / "labels.jsonl").read_text().splitlines()]
    types = {x["type"] for x in labels}
    assert {"resident", "episode", "fall", "device_fault", "artefact"} <= types
    for label in labels:
        if "resident" in label:
            assert label["resident"] in residents
        if "device" in label:
            assert label["device"] in devices
    bundle = json.loads(next((cohort / "fhir").iterdir()).read_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    assert any(e["resource"]["resourceType"] == "Observation" for e in bundle["entry"])


def test_bad_arguments_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "cohort", "--residents", "0", "--days", "3", "--out", str(tmp_path)]) == 2
    assert "--residents" in capsys.readouterr().err
    assert (
        main(
            [
                "synth",
                "cohort",
                "--residents",
                "3",
                "--days",
                "3",
                "--formats",
                "csv",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "csv" in capsys.readouterr().err
