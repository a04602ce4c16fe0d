"""InfluxDB v2 store through ``influxdb-client``: batched line-protocol writes, Flux queries.

Schema, following InfluxDB's cardinality guidance (tags are indexed: keep them few-valued;
unbounded identifiers go in fields):

* measurement ``hjem_obs`` (configurable);
* tags: ``code`` (the sample's primary code, e.g. ``150364``), ``system`` (``mdc``, ``hjem``,
  ``other``) and ``publisher`` (one per gateway or vendor system: bounded);
* fields: ``value`` (float), ``unit``, ``observation``, ``device``, ``resident`` (strings);
* timestamp: the effective time in nanoseconds, plus ``crc32(observation id) mod 1000`` ns,
  so that two observations with the same code and tags at the same microsecond remain two
  points, while the same observation always maps to the same point (a repeated write is
  idempotent in InfluxDB).

Deduplication does not rely on the server: the keys (effective time, id) of written
observations are kept in the hub's SQLite file (``influx_written_v2``; ids in the older
``influx_written`` still count), inserted in the same transaction that is committed
only after InfluxDB accepted the points. A crash between the two re-writes identical
points on redelivery, which InfluxDB treats as the same points.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from hub.config import InfluxSettings
from hub.db import migrate, to_micros, transaction
from hub.errors import StoreError
from hub.store.base import Bucket, Sample, StoredObservation, TimeSeriesStore, samples_of
from schemas.codes import HJEM_SYSTEM, MDC_SYSTEM

__all__ = ["InfluxStore", "line_protocol"]

MIGRATIONS = [
    "CREATE TABLE influx_written (id TEXT PRIMARY KEY) WITHOUT ROWID",
    # Version 2: keyed like the SQLite store, (effective time, id); the first table is only
    # read (for observations written before the upgrade).
    (
        "CREATE TABLE influx_written_v2 (effective_us INTEGER NOT NULL, id TEXT NOT NULL,"
        " PRIMARY KEY (effective_us, id)) WITHOUT ROWID"
    ),
    # Version 3: keyed like the SQLite store, (effective time, id, publisher); the tables
    # before it are only read (for observations written before the upgrade).
    (
        "CREATE TABLE influx_written_v3 (effective_us INTEGER NOT NULL, id TEXT NOT NULL,"
        " publisher TEXT NOT NULL, PRIMARY KEY (effective_us, id, publisher)) WITHOUT ROWID"
    ),
]
_CHUNK = 500


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _system(system: str) -> str:
    return {MDC_SYSTEM: "mdc", HJEM_SYSTEM: "hjem"}.get(system, "other")


def line_protocol(item: StoredObservation, measurement: str = "hjem_obs") -> Iterator[str]:
    """The InfluxDB line-protocol lines of one observation (one per numeric sample)."""
    offset_ns = zlib.crc32(item.id.encode()) % 1000
    system = _system(item.reading.code[0].system)
    for s in samples_of(item):
        fields = [f"value={s.value!r}", f"observation={_field(s.observation_id)}"]
        fields.append(f"device={_field(s.device_id)}")
        if s.unit:
            fields.append(f"unit={_field(s.unit)}")
        if s.resident_id:
            fields.append(f"resident={_field(s.resident_id)}")
        ns = to_micros(s.time) * 1000 + offset_ns
        tags = f"code={_tag(s.code)},publisher={_tag(item.publisher)},system={system}"
        yield f"{measurement},{tags} {','.join(fields)} {ns}"


class InfluxStore(TimeSeriesStore):
    """Observations as points in an InfluxDB v2 bucket (dedup ledger in SQLite)."""

    kind = "influxdb"

    def __init__(self, conn: sqlite3.Connection, settings: InfluxSettings) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._conn = conn
        self._settings = settings
        migrate(conn, "influx", MIGRATIONS)
        self._legacy = any(
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()  # noqa: S608
            for table in ("influx_written", "influx_written_v2")
        )
        """Whether ledgers from before version 3 hold anything (then they are read too)."""
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token.get_secret_value(),
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
        )
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._query = self._client.query_api()

    def _unseen(self, items: list[StoredObservation]) -> list[StoredObservation]:
        seen: set[tuple[int, str, str]] = set()
        for offset in range(0, len(items), _CHUNK):
            chunk = items[offset : offset + _CHUNK]
            triples = ",".join(["(?, ?, ?)"] * len(chunk))
            seen.update(
                (int(r[0]), str(r[1]), str(r[2]))
                for r in self._conn.execute(
                    "SELECT effective_us, id, publisher FROM influx_written_v3"  # noqa: S608
                    f" WHERE (effective_us, id, publisher) IN (VALUES {triples})",
                    [v for i in chunk for v in i.key],
                )
            )
            if self._legacy:
                seen.update(i.key for i in chunk if self._written_before_v3(i))
        return [i for i in items if i.key not in seen]

    def _written_before_v3(self, item: StoredObservation) -> bool:
        """Whether the ledgers from before the publisher was part of the key have it."""
        pair = (item.effective_us, item.id)
        return any(
            self._conn.execute(sql, args).fetchone() is not None
            for sql, args in (
                ("SELECT 1 FROM influx_written_v2 WHERE effective_us = ? AND id = ?", pair),
                ("SELECT 1 FROM influx_written WHERE id = ?", (item.id,)),
            )
        )

    def write_new(self, items: Sequence[StoredObservation]) -> list[StoredObservation]:
        unique = list({item.key: item for item in reversed(items)}.values())[::-1]
        try:
            with transaction(self._conn):
                new = self._unseen(unique)
                self._conn.executemany(
                    "INSERT INTO influx_written_v3 (effective_us, id, publisher) VALUES (?, ?, ?)",
                    [i.key for i in new],
                )
                self._post([line for i in new for line in line_protocol(i, self._m)])
        except sqlite3.Error as exc:
            raise StoreError("sqlite", "dedup ledger", str(exc)) from exc
        return new

    @property
    def _m(self) -> str:
        return self._settings.measurement

    def _post(self, lines: list[str]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        size = self._settings.batch_size
        for offset in range(0, len(lines), size):
            try:
                self._write.write(
                    bucket=self._settings.bucket,
                    org=self._settings.org,
                    record=lines[offset : offset + size],
                    write_precision=WritePrecision.NS,  # type: ignore[arg-type]
                )
            except (ApiException, HTTPError, OSError) as exc:
                raise StoreError("influxdb", f"write to {self._settings.url}", str(exc)) from exc

    # -- queries (Flux; needs InfluxDB 2.x) -------------------------------------------------

    def _flux(self, body: str, start: datetime, end: datetime, code: str) -> Any:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        flux = (
            f'from(bucket: "{self._settings.bucket}")\n'
            f"  |> range(start: {start.isoformat()}, stop: {end.isoformat()})\n"
            f'  |> filter(fn: (r) => r._measurement == "{self._m}" and r.code == "{code}")\n'
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n' + body
        )
        try:
            return self._query.query(flux, org=self._settings.org)
        except (ApiException, HTTPError, OSError) as exc:
            raise StoreError("influxdb", "query", str(exc)) from exc

    @staticmethod
    def _subject(resident_id: str | None, device_id: str | None) -> str:
        if (resident_id is None) == (device_id is None):
            raise ValueError("give exactly one of resident_id and device_id")
        if resident_id is not None:
            return f'  |> filter(fn: (r) => r.resident == "{_flux_str(resident_id)}")\n'
        return f'  |> filter(fn: (r) => r.device == "{_flux_str(str(device_id))}")\n'

    def query(
        self,
        *,
        code: str,
        start: datetime,
        end: datetime,
        resident_id: str | None = None,
        device_id: str | None = None,
    ) -> list[Sample]:
        tables = self._flux(
            self._subject(resident_id, device_id) + '  |> sort(columns: ["_time"])\n',
            start,
            end,
            _flux_str(code),
        )
        return [
            Sample(
                r["_time"],
                float(r["value"]),
                r.values.get("unit"),
                code,
                r["observation"],
                r["device"],
                r.values.get("resident"),
            )
            for table in tables
            for r in table.records
        ]

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
        every = f"{int(width.total_seconds())}s"
        out = []
        for fn in ("count", "min", "mean", "max"):
            body = (
                self._subject(resident_id, device_id)
                + '  |> keep(columns: ["_time", "value"])\n'
                + f'  |> aggregateWindow(every: {every}, fn: {fn}, column: "value",'
                + ' timeSrc: "_start", createEmpty: false)\n'
            )
            tables = self._flux(body, start, end, _flux_str(code))
            out.append({r["_time"]: r["value"] for t in tables for r in t.records})
        counts, mins, means, maxs = out
        return [
            Bucket(t, int(counts[t]), float(mins[t]), float(means[t]), float(maxs[t]))
            for t in sorted(counts)
        ]

    def latest(self, resident_id: str) -> dict[str, Sample]:
        flux = (
            f'from(bucket: "{self._settings.bucket}") |> range(start: 0)\n'
            f'  |> filter(fn: (r) => r._measurement == "{self._m}")\n'
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
            f'  |> filter(fn: (r) => r.resident == "{_flux_str(resident_id)}")\n'
            '  |> group(columns: ["code"]) |> last(column: "_time")\n'
        )
        tables = self._query.query(flux, org=self._settings.org)
        return {
            r["code"]: Sample(
                r["_time"],
                float(r["value"]),
                r.values.get("unit"),
                r["code"],
                r["observation"],
                r["device"],
                resident_id,
            )
            for t in tables
            for r in t.records
        }

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def _flux_str(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
