"""Rows of the SQLite store, built in Python (pure): observations, samples and roll-ups."""

from __future__ import annotations

from collections.abc import Sequence

from hub.db import to_micros
from hub.store.base import ROLLUP_WIDTHS, StoredObservation, samples_of

__all__ = ["SampleRow", "component_rows", "observation_row", "rollup_rows", "value_row"]

NO_RESIDENT = ""
SampleRow = tuple[str, str, str, int, float, str | None, str]
"""resident ('' for none), device, code, time (µs), value, unit, observation id."""

_WIDTHS_US = tuple(int(w.total_seconds()) * 1_000_000 for w in ROLLUP_WIDTHS)


def observation_row(
    item: StoredObservation, message: int | None, text: str | None, received_us: int
) -> tuple[object, ...]:
    """The ``observation`` row, with the observation's own numeric value if it has one."""
    obs = item.reading
    primary = obs.code[0]
    if obs.value is not None:
        value: float | None = float(obs.value)
    elif obs.value_boolean is not None:
        value = 1.0 if obs.value_boolean else 0.0
    else:
        value = None
    return (
        obs.id,
        item.publisher,
        obs.source.device.id,
        item.resident_id,
        primary.system,
        primary.code,
        item.effective_us,
        received_us,
        message,
        item.position if message is not None else None,
        text,
        value,
        obs.unit,
    )


def value_row(item: StoredObservation, row: tuple[object, ...]) -> SampleRow | None:
    """The observation's own value as a sample (for roll-ups), from its row."""
    value = row[11]
    if value is None:
        return None
    assert isinstance(value, float)
    reading = item.reading
    return (
        item.resident_id or NO_RESIDENT,
        reading.source.device.id,
        reading.code[0].code,
        item.effective_us,
        value,
        reading.unit,
        reading.id,
    )


def component_rows(item: StoredObservation) -> list[SampleRow]:
    """``sample`` rows: the numeric components of a compound observation.

    A compound observation has no value of its own (one kind of value per observation), so
    its samples are exactly its components.
    """
    if not item.reading.components:
        return []
    resident = item.resident_id or NO_RESIDENT
    return [
        (resident, s.device_id, s.code, to_micros(s.time), s.value, s.unit, s.observation_id)
        for s in samples_of(item)
    ]


def rollup_rows(samples: Sequence[SampleRow]) -> list[tuple[object, ...]]:
    """count/sum/min/max per roll-up width, resident, code, bucket and device (pure).

    Buckets start at ``t - t % width`` with SQL's truncating remainder, as the queries do.
    The narrowest width is summed from the samples, each wider one from the narrower cells
    (every width is a multiple of the one before).
    """
    widths = _WIDTHS_US
    cells: dict[tuple[str, str, int, str], list[float]] = {}
    first = widths[0]
    for resident, device, code, t_us, value, _, _ in samples:
        key = (resident, code, _bucket(t_us, first), device)
        cell = cells.get(key)
        if cell is None:
            cells[key] = [1, value, value, value]
        else:
            cell[0] += 1
            cell[1] += value
            if value < cell[2]:
                cell[2] = value
            elif value > cell[3]:
                cell[3] = value
    out: list[tuple[object, ...]] = [
        (first // 1_000_000, *k, int(c[0]), c[1], c[2], c[3]) for k, c in cells.items()
    ]
    for w_us in widths[1:]:
        wider: dict[tuple[str, str, int, str], list[float]] = {}
        for (resident, code, bucket, device), (n, total, lo, hi) in cells.items():
            key = (resident, code, _bucket(bucket, w_us), device)
            cell = wider.get(key)
            if cell is None:
                wider[key] = [n, total, lo, hi]
            else:
                cell[0] += n
                cell[1] += total
                cell[2] = min(cell[2], lo)
                cell[3] = max(cell[3], hi)
        out += [(w_us // 1_000_000, *k, int(c[0]), c[1], c[2], c[3]) for k, c in wider.items()]
        cells = wider
    return out


def _bucket(t_us: int, w_us: int) -> int:
    return t_us - (t_us % w_us if t_us >= 0 else -(-t_us % w_us))
