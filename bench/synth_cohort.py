"""``hjem bench synth-cohort``: the synthetic cohort generator's throughput and peak memory.

Generates ``HJEM_BENCH_SYNTH`` (``RESIDENTSxDAYS``, default ``10000x90``) into a temporary
directory as JSON Lines, Parquet and labels (FHIR Bundles are left out at this scale: they go
through the pydantic models reading by reading, see docs/synthetic.md), and prints
observations per second and the process's peak resident memory. The peer builds the same
kind of readings one by one with the schema's models (``make_observation`` + ``encode``),
which is what the generator's template rendering replaces.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

__all__ = ["cohort"]


def _size() -> tuple[int, int]:
    text = os.environ.get("HJEM_BENCH_SYNTH", "10000x90")
    residents, _, days = text.partition("x")
    try:
        return int(residents), int(days)
    except ValueError:
        raise SystemExit(
            f"HJEM_BENCH_SYNTH={text!r}: expected RESIDENTSxDAYS, e.g. 10000x90"
        ) from None


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peer(count: int) -> float:
    """Observations per second building blood pressure + SpO2 readings with the models."""
    from schemas.builders import component, make_observation
    from schemas.models import DeviceInfo, Source, encode

    source = Source(publisher="gw-000001", device=DeviceInfo(id="syn-bp-000001-1"))
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    began = time.perf_counter()
    for i in range(count):
        at = t0 + timedelta(minutes=i)
        keys = ("blood_pressure_systolic", "blood_pressure_diastolic", "blood_pressure_mean")
        parts = [component(k, v) for k, v in zip(keys, ("131", "77", "95.0"), strict=True)]
        encode(make_observation("blood_pressure", source=source, effective=at, components=parts))
        encode(make_observation("spo2", source=source, effective=at, value="95"))
    return 2 * count / (time.perf_counter() - began)


def cohort() -> None:
    from synth.cohort import CohortSpec
    from synth.params import Params
    from synth.writer import write_cohort

    residents, days = _size()
    spec = CohortSpec(residents, days, max(1, min(10, residents)), 1, date(2026, 1, 5))
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        written = write_cohort(spec, Params(), Path(tmp), ("jsonl", "parquet", "labels"))
        took = time.perf_counter() - began
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    peak = _peak_mib()
    peer = _peer(min(20000, max(200, written.observations // 100)))
    print(
        f"cohort: {residents} residents x {days} days, {written.observations:,} observations, "
        f"{written.labels:,} labels, {size:,.0f} MiB written"
    )
    print(
        f"synth cohort (jsonl+parquet+labels) {took:.1f} s "
        f"{written.observations / took:,.0f} obs/s peak RSS {peak:,.0f} MiB"
    )
    print(f"peer: pydantic models per reading {peer:,.0f} obs/s")
