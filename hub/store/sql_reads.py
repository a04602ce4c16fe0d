"""The read side shared by the SQL stores (SQLite and PostgreSQL): queries and row decoding.

Both keep the same tables (:mod:`hub.store.sqlite`, :mod:`hub.store.postgresql_schema`), so
they read them with the same SQL, written with SQLite's ``?`` placeholders;
:func:`pyformat` turns it into psycopg's ``%s`` form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from hub.db import from_micros, to_micros
from hub.reading import Reading, reading_of
from hub.store.base import ROLLUP_WIDTHS, Bucket, Sample, StoredObservation
from schemas.models import Observation

__all__ = [
    "OBSERVATIONS_SQL",
    "buckets",
    "decode_observations",
    "pyformat",
    "rollup_sql",
    "stored_reading",
    "subject",
    "values_sql",
]


def pyformat(sql: str) -> str:
    """``?`` placeholders as ``%s`` (and a literal ``%`` doubled), for psycopg."""
    return sql.replace("%", "%%").replace("?", "%s")


def subject(resident_id: str | None, device_id: str | None) -> tuple[str, str]:
    """The column and value that select one resident or one device."""
    if (resident_id is None) == (device_id is None):
        raise ValueError("give exactly one of resident_id and device_id")
    if resident_id is not None:
        return "resident_id", resident_id
    return "device_id", str(device_id)


def values_sql(column: str) -> str:
    """Numeric values (own values from ``observation``, components and older values from
    ``sample``) of one resident or device and one code in a time range: 8 parameters."""
    return (
        "SELECT effective_us AS t_us, value, unit, code, id AS observation_id, device_id,"  # noqa: S608
        f" resident_id FROM observation WHERE {column} = ? AND code = ? AND effective_us >= ?"
        " AND effective_us < ? AND value IS NOT NULL"
        " UNION ALL SELECT t_us, value, unit, code, observation_id, device_id, resident_id"
        f" FROM sample WHERE {column} = ? AND code = ? AND t_us >= ? AND t_us < ?"
    )


def rollup_sql(  # noqa: PLR0917 - the query's own terms
    column: str, value: str, code: str, start: datetime, end: datetime, width: timedelta
) -> tuple[str, tuple[object, ...]]:
    """min/mean/max per bucket: from the stored roll-ups for their widths, else computed."""
    w_us = int(width.total_seconds() * 1_000_000)
    if w_us <= 0:
        raise ValueError("width must be positive")
    if width in ROLLUP_WIDTHS:
        sql = (
            "SELECT bucket_us, SUM(n), MIN(minimum), SUM(total), MAX(maximum) FROM rollup"  # noqa: S608
            f" WHERE width_s = {w_us // 1_000_000} AND {column} = ? AND code = ?"
            " AND bucket_us >= ? AND bucket_us < ? GROUP BY bucket_us ORDER BY bucket_us"
        )
        start_us = to_micros(start)
        return sql, (value, code, start_us - start_us % w_us, to_micros(end))
    sql = (
        f"SELECT t_us - (t_us % {w_us}) AS b, COUNT(*), MIN(value), SUM(value),"  # noqa: S608
        f" MAX(value) FROM ({values_sql(column)}) v GROUP BY b ORDER BY b"
    )
    return sql, (value, code, to_micros(start), to_micros(end)) * 2


def buckets(rows: Iterable[Any]) -> list[Bucket]:
    """Buckets from ``rollup_sql``'s rows."""
    return [
        Bucket(from_micros(b), int(n), float(lo), float(total) / int(n), float(hi))
        for b, n, lo, total, hi in rows
    ]


OBSERVATIONS_SQL = (
    "SELECT o.json, o.message, m.payload, m.encoding, o.position, o.publisher,"
    " o.resident_id, o.received_us FROM observation o LEFT JOIN message m ON {join}"
    " WHERE o.{column} = ? AND (CAST(? AS TEXT) IS NULL OR o.code = ?)"
    " AND o.effective_us >= ? AND o.effective_us < ? ORDER BY o.effective_us"
)
"""Full observations of one subject (``join``: how an observation names its message)."""


def decode_observations(
    rows: Iterable[Any], inflate: Callable[[bytes, str | None], bytes]
) -> list[StoredObservation]:
    """Observations as received, from ``OBSERVATIONS_SQL``'s rows, as readings
    (:func:`stored_reading`); each message is inflated and split into its observations' JSON
    once, and only the observations asked for are decoded."""
    out = []
    batches: dict[int, list[msgspec.Raw]] = {}
    for text, message, payload, encoding, position, publisher, resident, received in rows:
        if text is not None:
            reading = stored_reading(text)
        else:
            found = batches.get(message)
            if found is None:
                found = _MESSAGE.decode(inflate(bytes(payload), encoding)).observations
                batches[message] = found
            reading = stored_reading(found[position])
        out.append(StoredObservation(reading, publisher, resident, from_micros(received)))
    return out


class _Message(msgspec.Struct):
    """A stored message's observations, each as its JSON text (other fields ignored)."""

    observations: list[msgspec.Raw]


_MESSAGE = msgspec.json.Decoder(_Message)


_READING = msgspec.json.Decoder(Reading)


def stored_reading(text: bytes | str) -> Reading:
    """A stored observation's JSON (accepted by the models once) as a reading, read by msgspec
    alone: it takes exactly the JSON types the models wrote or accepted as they are, so what it
    cannot read that way (a value the models coerced, e.g. ``"5"`` for a number) goes through
    the models as before. ``effective`` in UTC, as the models give it."""
    try:
        reading = _READING.decode(text)
        if reading.effective.tzinfo is not UTC:
            reading = msgspec.structs.replace(reading, effective=reading.effective.astimezone(UTC))
    except (msgspec.ValidationError, msgspec.DecodeError, OverflowError):
        return reading_of(Observation.model_validate_json(text))
    return reading


class SqlSeries:
    """``query`` and ``rollup`` of the SQL stores: the same SQL (SQLite's ``?``), run by each
    store's :meth:`_select`."""

    def _select(self, sql: str, params: Sequence[object]) -> Iterable[Any]:
        raise NotImplementedError

    def query(
        self,
        *,
        code: str,
        start: datetime,
        end: datetime,
        resident_id: str | None = None,
        device_id: str | None = None,
    ) -> list[Sample]:
        column, value = subject(resident_id, device_id)
        rows = self._select(
            f"SELECT * FROM ({values_sql(column)}) v ORDER BY t_us",  # noqa: S608
            (value, code, to_micros(start), to_micros(end)) * 2,
        )
        return [Sample(from_micros(t), v, u, c, o, d, r or None) for t, v, u, c, o, d, r in rows]

    def rollup(
        self,
        *,
        code: str,
        start: datetime,
        end: datetime,
        width: timedelta,
        resident_id: str | None = None,
        device_id: str | None = None,
    ) -> list[Bucket]:
        column, value = subject(resident_id, device_id)
        sql, params = rollup_sql(column, value, code, start, end, width)
        return buckets(self._select(sql, params))
