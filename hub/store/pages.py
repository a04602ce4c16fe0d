"""Observations page by page, for the FHIR API (:mod:`hub.fhir.search`): keyset paging.

A page is the next ``limit`` observations after a position ``(effective_us, row)`` in the
order (effective time, then row), among the given residents, codes and time bounds. The
position is stable: observations stored meanwhile with a later effective time appear on a
later page, nothing shifts as it would with an offset. The observation table of
:mod:`hub.store.sqlite` (the row: its rowid) or of :mod:`hub.store.postgresql` in the same
database as the relational tables (the row: its commit-order number, 0 for rows stored
before observations were numbered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from hub.db import Connection, dialect, from_micros
from hub.store.base import StoredObservation
from hub.store.sql_reads import stored_reading
from hub.store.sqlite import _inflate

__all__ = ["ObservationFilter", "PagedObservation", "observation_page", "observations_by_ids"]


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    """What to select; None or empty: no condition of that kind."""

    residents: Sequence[str]
    codes: Sequence[tuple[str, str]] | None = None
    """(system, code) pairs of the stored primary coding."""
    effective_from_us: int | None = None
    effective_to_us: int | None = None
    """Exclusive upper bound."""
    received_from_us: int | None = None
    received_to_us: int | None = None
    """Exclusive upper bound."""


@dataclass(frozen=True, slots=True)
class PagedObservation:
    stored: StoredObservation
    position: tuple[int, int]
    """(effective_us, row): where the next page starts after this one."""
    received_us: int


_ROW = {"sqlite": "o.rowid", "postgresql": "COALESCE(o.number, 0)"}
"""The row's place among observations of the same effective time, per engine."""


def _select(conn: Connection) -> tuple[str, str]:
    """The SELECT of a page's rows, and the row expression it orders by.

    The row's own columns only: a message's payload is read once per page (:func:`_decode`),
    not carried (and sorted) with each of its observations."""
    row = _ROW[dialect(conn)]
    columns = "o.json, o.message, o.position, o.publisher, o.resident_id, o.received_us"
    return f"SELECT {columns}, o.effective_us, {row} FROM observation o", row  # noqa: S608


class _StoredBatch(msgspec.Struct):
    """A stored message as far as a page needs it: its observations, each left as JSON."""

    observations: list[msgspec.Raw]


_BATCH = msgspec.json.Decoder(_StoredBatch)


def _payloads(conn: Connection, ids: set[int]) -> dict[int, list[msgspec.Raw]]:
    """The observations of each message (decoded once), by message id."""
    if not ids:
        return {}
    wanted = sorted(ids)
    rows = conn.execute(
        f"SELECT id, payload, encoding FROM message WHERE id IN ({','.join('?' * len(wanted))})",  # noqa: S608
        wanted,
    )
    return {int(i): _BATCH.decode(_inflate(bytes(p), e)).observations for i, p, e in rows}


def _decode(conn: Connection, rows: list[Any]) -> list[PagedObservation]:
    messages = _payloads(conn, {int(r[1]) for r in rows if r[0] is None})
    out = []
    for text, message, position, publisher, resident, received, effective, row in rows:
        source = text if text is not None else messages[int(message)][int(position)]
        stored = StoredObservation(
            stored_reading(source), publisher, resident, from_micros(received)
        )
        out.append(PagedObservation(stored, (int(effective), int(row)), int(received)))
    return out


def _where(
    query: ObservationFilter, after: tuple[int, int] | None, row: str
) -> tuple[str, list[object]]:
    residents = list(query.residents)
    parts = [f"o.resident_id IN ({','.join('?' * len(residents))})"]
    params: list[object] = [*residents]
    if query.codes is not None:
        pairs = list(query.codes) or [("", "")]
        parts.append("(" + " OR ".join("(o.system = ? AND o.code = ?)" for _ in pairs) + ")")
        params += [x for pair in pairs for x in pair]
    bounds = (
        ("o.effective_us >= ?", query.effective_from_us),
        ("o.effective_us < ?", query.effective_to_us),
        ("o.received_us >= ?", query.received_from_us),
        ("o.received_us < ?", query.received_to_us),
    )
    for sql, value in bounds:
        if value is not None:
            parts.append(sql)
            params.append(value)
    if after is not None:
        parts.append(f"(o.effective_us, {row}) > (?, ?)")
        params += [after[0], after[1]]
    return " AND ".join(parts), params


def observation_page(
    conn: Connection,
    query: ObservationFilter,
    after: tuple[int, int] | None,
    limit: int,
) -> list[PagedObservation]:
    """Up to ``limit`` observations after position ``after`` (None: from the start)."""
    if not query.residents or limit <= 0:
        return []
    select, row = _select(conn)
    where, params = _where(query, after, row)
    rows = conn.execute(
        f"{select} WHERE {where} ORDER BY o.effective_us, {row} LIMIT ?",
        [*params, limit],
    ).fetchall()
    return _decode(conn, rows)


def observations_by_ids(
    conn: Connection, observation_ids: Sequence[str], residents: Sequence[str]
) -> list[PagedObservation]:
    """The observations with these ids that belong to one of ``residents``."""
    if not observation_ids or not residents:
        return []
    ids, people = list(observation_ids), list(residents)
    rows = conn.execute(
        f"{_select(conn)[0]} WHERE o.id IN ({','.join('?' * len(ids))})"
        f" AND o.resident_id IN ({','.join('?' * len(people))}) ORDER BY o.effective_us",
        [*ids, *people],
    ).fetchall()
    return _decode(conn, rows)


def latest_of_device(
    conn: Connection, device_id: str, residents: Sequence[str]
) -> StoredObservation | None:
    """The newest observation of ``device_id`` made for one of ``residents``."""
    if not residents:
        return None
    people = list(residents)
    marks = ",".join("?" * len(people))
    row = conn.execute(
        f"{_select(conn)[0]} WHERE o.device_id = ? AND o.resident_id IN ({marks})"
        " ORDER BY o.effective_us DESC LIMIT 1",
        [device_id, *people],
    ).fetchone()
    if row is None:
        return None
    return _decode(conn, [row])[0].stored
