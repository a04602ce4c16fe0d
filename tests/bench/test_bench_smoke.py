"""A smoke run of every benchmark (``hjem bench NAME`` from this checkout, tiny sizes).

Benchmarks fail on no number, so nothing else would notice one that rots. Each runs once, in
a child process as a reader runs it, with sizes small enough for the suite; the test checks
that every row of its report is printed and that its figures are positive. No timing is
asserted: the sizes are far too small for the figures to mean anything.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "HJEM_BENCH_AGENT_SECONDS": "2",
    "HJEM_BENCH_OUTBOX": "2000",
    "HJEM_BENCH_INGEST": "1x300,100x6",
    "HJEM_BENCH_INGEST_ROUNDS": "1",
    "HJEM_BENCH_INGEST_PROCESSES": "2",
    "HJEM_BENCH_ALERTS_PROBES": "6",
    "HJEM_BENCH_SYNTH": "20x3",
    "HJEM_BENCH_FHIR": "1200",
    "HJEM_BENCH_PUSH": "20",
    "HJEM_BENCH_FAILOVER_KILLS": "2",
}
"""Sizes for the smoke run; every knob a benchmark reads from the environment."""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")

ROWS: dict[str, list[tuple[str, int]]] = {
    "agent": [
        ("virtual radio alone (simulation)", 3),  # its obs/s is 0: it decodes nothing
        ("agent + virtual radio", 4),
    ],
    "outbox": [
        ("Hjem outbox -> Mosquitto (QoS 1, delete after PUBACK)", 2),
        ("paho QoS 1, same batches of 200 (no disk)", 2),
        ("paho QoS 1, one message per observation (no disk)", 2),
        ("a QoS 1 subscriber received", 1),
    ],
    "ingest": [
        *(
            (f"{shape} {name}", 4)
            for shape in ("1 300", "100 6")
            for name in (
                "raw paho",
                "relay only",
                "hjem hub",
                "hub postgresql",
                "hub postgresql alerts",
                "2 hubs postgresql",
                "2 hubs postgresql alerts",
                "2 hubs",
            )
        ),
        *(
            (f"{shape} {name}", 2)
            for shape in ("1 300", "100 6")
            for name in ("fast path", "validate", "store")
        ),
        ("100 6 hub part", 2),
        # (its relay's figure: two relays' CPU subtracted, start left out - noise at this size)
        ("CPU per observation: hub", 1),
        *((f"CPU per observation, {name}:", 3) for name in ("hub postgresql", "2 hubs postgresql")),
        ("alerts evaluated, hub postgresql alerts:", 2),
    ],
    "failover": [
        ("failover: leader SIGKILLed -> first alert on the new leader", 4),
        ("peer: no kill, the same probe published -> alert", 4),
    ],
    "schema-validate": [
        ("1", 3),
        ("100", 3),
    ],
    "decode": [
        ("mixed corpus (GATT, BTHome, Ruuvi, Xiaomi):", 3),
        ("BTHome, Hjem edge.decoders:", 3),
        ("BTHome, bthome-ble update():", 2),
        ("ratio Hjem / bthome-ble:", 1),
    ],
    "alerts": [
        ("hub: MQTT obs -> ingest -> rule -> SSE event", 4),
        ("peer floor: MQTT obs -> plain subscriber", 4),
        ("alerts only: engine input -> SSE event", 4),
        ("background:", 2),
    ],
    "fhir": [
        ("hjem /fhir search, httpx (cursor pages)", 3),
        ("hjem /fhir search, fhirpy fetch_all", 3),
        ("store read, no FHIR/HTTP (peer floor)", 3),
    ],
    "fhir-push": [
        ("hjem push -> in-process recipient, 8 entries", 2),
        ("hjem push -> in-process recipient, 100 entries", 2),
        ("hjem push -> Medplum FHIR server", 2),
        ("peer: same Bundles posted to Medplum directly", 2),
    ],
    "synth-cohort": [
        ("synth cohort (jsonl+parquet+labels)", 3),
        ("peer: pydantic models per reading", 1),
    ],
}
"""Per benchmark: the start of each row its report must print (columns one space apart), and
how many of the figures after that start must be there, all of them positive."""


ROUNDED = {"outbox": 1, "synth-cohort": 1}
"""Benchmarks whose rows start with that many durations in seconds (then the rates)."""


def figures(line: str, start: str) -> list[float]:
    rest = line.split(start, 1)[1]
    return [float(n.replace(",", "")) for n in _NUMBER.findall(rest)]


def test_every_benchmark_has_a_smoke_run() -> None:
    assert set(ROWS) == set(BENCHMARKS)


@pytest.mark.slow
@pytest.mark.mosquitto
@pytest.mark.parametrize("name", list(ROWS))
def test_benchmark_prints_its_rows_with_positive_figures(name: str) -> None:
    env = {**os.environ, **TINY, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "hjem", "bench", name],
        capture_output=True,
        text=True,
        timeout=300,  # the ingest run starts 8 hub processes on PostgreSQL
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert f"=== {name}: {BENCHMARKS[name][1]}" in lines
    assert any(line.startswith(f"--- {name} took ") for line in lines)
    rows = [" ".join(line.split()) for line in lines]  # columns: one space apart
    for start, count in ROWS[name]:
        found = [row for row in rows if f"{row} ".startswith(f"{start} ")]
        assert found, f"{name}: no row starting {start!r} in\n{out.stdout}"
        numbers = figures(found[0], start)
        assert len(numbers) >= count, (name, found[0])
        durations = ROUNDED.get(name, 0)  # seconds that may print as 0.00 at this size
        assert all(n >= 0 for n in numbers[:durations]), (name, found[0])
        assert all(n > 0 for n in numbers[durations:count]), (name, found[0])


def test_hjem_bench_outside_a_checkout_says_where_it_looked(tmp_path: Path) -> None:
    """Installed without a checkout (no bench/ beside hjem nor in the cwd): a clear error."""
    package = tmp_path / "site"
    package.mkdir()
    for part in ("hjem", "foundation"):
        subprocess.run(["cp", "-r", str(ROOT / part), str(package)], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "hjem", "bench", "decode"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(package)},
    )
    assert out.returncode == 2, out.stderr
    assert "bench/ directory of a source checkout" in out.stderr
    assert str(package / "hjem") in out.stderr
    assert str(tmp_path) in out.stderr
