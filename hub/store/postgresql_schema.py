"""The PostgreSQL store's schema (versioned, :mod:`hub.store.postgresql_db`) and statements.

Version 1 is the SQLite store's layout as it stands (hub.store.sqlite, version 27 of its
list), partitioned by month; append a version, never edit a released one.
"""

from __future__ import annotations

from hub.store.postgresql_db import Migration

__all__ = ["INSERT_OBSERVATIONS", "MIGRATIONS", "STORED_SINCE", "TAKE_NUMBERS", "WRITE_REST"]

MIGRATIONS: list[Migration] = [
    (
        (
            "CREATE TABLE message (id bigint NOT NULL, publisher text NOT NULL,"
            " received_us bigint NOT NULL, payload bytea NOT NULL,"
            " encoding text CHECK (encoding IN ('zlib')), PRIMARY KEY (received_us, id))"
            " PARTITION BY RANGE (received_us)"
        ),
        (
            "CREATE TABLE observation (id text NOT NULL, publisher text NOT NULL,"
            " device_id text NOT NULL, resident_id text, system text NOT NULL, code text NOT NULL,"
            " effective_us bigint NOT NULL, received_us bigint NOT NULL, message bigint,"
            " position integer, json text, value double precision, unit text,"
            " CHECK (message IS NOT NULL OR json IS NOT NULL),"
            " UNIQUE (effective_us, id, publisher)) PARTITION BY RANGE (effective_us)"
        ),
        "CREATE INDEX observation_resident ON observation (resident_id, code, effective_us)",
        "CREATE INDEX observation_device ON observation (device_id, code, effective_us)",
        (
            "CREATE TABLE sample (resident_id text NOT NULL, device_id text NOT NULL,"
            " code text NOT NULL, t_us bigint NOT NULL, value double precision NOT NULL, unit text,"
            " observation_id text NOT NULL) PARTITION BY RANGE (t_us)"
        ),
        "CREATE INDEX sample_resident ON sample (resident_id, code, t_us)",
        "CREATE INDEX sample_device ON sample (device_id, code, t_us)",
        (
            "CREATE TABLE rollup (width_s integer NOT NULL, resident_id text NOT NULL,"
            " device_id text NOT NULL, code text NOT NULL, bucket_us bigint NOT NULL,"
            " n bigint NOT NULL, total double precision NOT NULL,"
            " minimum double precision NOT NULL, maximum double precision NOT NULL,"
            " PRIMARY KEY (width_s, resident_id, code, bucket_us, device_id))"
            " PARTITION BY RANGE (bucket_us)"
        ),
        "CREATE INDEX rollup_device ON rollup (width_s, device_id, code, bucket_us)",
    ),
    (
        # Version 2: observations numbered in commit order (TimeSeriesStore.stored_since): a
        # write takes its numbers from this one row, whose lock it holds until it commits, so
        # a later number is always a later commit, across hub nodes. NULL: stored before.
        (
            "CREATE TABLE observation_number (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
            " last bigint NOT NULL)"
        ),
        "INSERT INTO observation_number (last) VALUES (0)",
        "ALTER TABLE observation ADD COLUMN number bigint",
        "CREATE INDEX observation_by_number ON observation (number)",
    ),
]

TAKE_NUMBERS = "UPDATE observation_number SET last = last + %s RETURNING last"
"""Numbers for a write's observations (the last of them); locks the row until the commit."""

INSERT_OBSERVATIONS = (
    "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
    " effective_us, received_us, message, position, json, value, unit, number)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::text[],"
    " %s::float8[], %s::text[], %s::bigint[])"
    " ON CONFLICT DO NOTHING RETURNING effective_us, id, publisher"
)
"""Every observation of a write as 13 arrays and its number; returns the keys of the rows
that were new (a duplicate's number is left unused)."""

STORED_SINCE = (
    "SELECT o.json, o.message, m.payload, m.encoding, o.position, o.publisher, o.resident_id,"
    " o.received_us, o.number FROM observation o LEFT JOIN message m"
    " ON m.received_us = o.received_us AND m.id = o.message"
    " WHERE o.number > %s ORDER BY o.number LIMIT %s"
)
"""The observations numbered after a cursor, in number order, with their messages."""

WRITE_REST = (
    "WITH m AS (INSERT INTO message (id, publisher, received_us, payload, encoding)"
    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bytea[], %s::text[])),"
    " s AS (INSERT INTO sample (resident_id, device_id, code, t_us, value, unit, observation_id)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::float8[],"
    " %s::text[], %s::text[]))"
    " INSERT INTO rollup AS r (width_s, resident_id, code, bucket_us, device_id, n, total,"
    " minimum, maximum) SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[],"
    " %s::bigint[], %s::text[], %s::bigint[], %s::float8[], %s::float8[], %s::float8[])"
    " ON CONFLICT (width_s, resident_id, code, bucket_us, device_id) DO UPDATE SET"
    " n = r.n + excluded.n, total = r.total + excluded.total,"
    " minimum = LEAST(r.minimum, excluded.minimum), maximum = GREATEST(r.maximum, excluded.maximum)"
)
"""The messages, samples and roll-ups of a write's new observations, in one statement: 21
arrays (5 + 7 + 9). Roll-up rows come sorted by key, so that two nodes updating the same
cells lock them in the same order (no deadlock)."""
