"""The PostgreSQL store's schema (versioned, :mod:`hub.store.postgresql_db`) and statements.

Version 1 is the SQLite store's layout as it stands (hub.store.sqlite, version 27 of its
list), partitioned by month; append a version, never edit a released one.
"""

from __future__ import annotations

from hub.store.postgresql_db import Migration

__all__ = [
    "COPY_MESSAGES",
    "COPY_SAMPLES",
    "COPY_STAGE",
    "INSERT_STAGED",
    "MESSAGE_TYPES",
    "MIGRATIONS",
    "SAMPLE_TYPES",
    "STAGE",
    "STAGE_TYPES",
    "STORED_SINCE",
    "WRITE_ROLLUPS",
]

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

_OBSERVATION_COLUMNS = (
    "id, publisher, device_id, resident_id, system, code, effective_us, received_us, message,"
    " position, json, value, unit"
)
STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS observation_stage (id text, publisher text, device_id text,"
    " resident_id text, system text, code text, effective_us bigint, received_us bigint,"
    " message bigint, position integer, json text, value float8, unit text, seq bigint)"
    " ON COMMIT DELETE ROWS"
)
"""A write's observations, copied in before they go into ``observation``: one per connection
(a session's temporary table), emptied by every commit."""
STAGE_TYPES = [
    *("text",) * 6,
    "bigint",
    "bigint",
    "bigint",
    "integer",
    "text",
    "float8",
    "text",
    "bigint",
]
COPY_STAGE = f"COPY observation_stage ({_OBSERVATION_COLUMNS}, seq) FROM STDIN (FORMAT BINARY)"
"""The observation rows (``seq``: 1, 2, ... in the write's order), in PostgreSQL's binary copy
format (psycopg encodes it in C: no array text to build and parse)."""

INSERT_STAGED = (
    "WITH n AS (UPDATE observation_number SET last = last + %(count)s RETURNING last),"
    " i AS (INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
    " effective_us, received_us, message, position, json, value, unit, number)"
    " SELECT id, publisher, device_id, resident_id, system, code, effective_us, received_us,"
    " message, position, json, value, unit, (SELECT last FROM n) - %(count)s + seq"
    " FROM observation_stage"
    " ORDER BY seq ON CONFLICT DO NOTHING RETURNING number)"
    " SELECT (SELECT last FROM n), COUNT(*),"
    " CASE WHEN COUNT(*) < %(count)s THEN array_agg(number) END FROM i"
)
"""The staged observations into ``observation``, numbered in the write's order: the numbers
come from one counter row, whose lock the write holds until it commits, so a later number is
always a later commit across hub nodes (taken after the copy, to hold it briefly). Returns the
last number, how many rows were new and, only when some were not, the numbers of the new ones
(a duplicate's number is left unused)."""

MESSAGE_TYPES = ["bigint", "text", "bigint", "bytea", "text"]
COPY_MESSAGES = (
    "COPY message (id, publisher, received_us, payload, encoding) FROM STDIN (FORMAT BINARY)"
)
SAMPLE_TYPES = ["text", "text", "text", "bigint", "float8", "text", "text"]
COPY_SAMPLES = (
    "COPY sample (resident_id, device_id, code, t_us, value, unit, observation_id)"
    " FROM STDIN (FORMAT BINARY)"
)
"""Messages and samples of the new observations, copied straight into their tables."""

STORED_SINCE = (
    "SELECT o.json, o.message, CASE WHEN o.number = min(o.number) OVER (PARTITION BY"
    " o.received_us, o.message) THEN m.payload END, m.encoding, o.position, o.publisher,"
    " o.resident_id, o.received_us, o.number FROM (SELECT * FROM observation"
    " WHERE number > %s ORDER BY number LIMIT %s) o LEFT JOIN message m"
    " ON m.received_us = o.received_us AND m.id = o.message ORDER BY o.number"
)
"""The observations numbered after a cursor, in number order, each message's payload with
the first of its observations on the page only (read and sent once, not once per
observation; :func:`~hub.store.sql_reads.decode_observations` keeps it for the others)."""

WRITE_ROLLUPS = (
    "INSERT INTO rollup AS r (width_s, resident_id, code, bucket_us, device_id, n, total,"
    " minimum, maximum) SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[],"
    " %s::bigint[], %s::text[], %s::bigint[], %s::float8[], %s::float8[], %s::float8[])"
    " ON CONFLICT (width_s, resident_id, code, bucket_us, device_id) DO UPDATE SET"
    " n = r.n + excluded.n, total = r.total + excluded.total,"
    " minimum = LEAST(r.minimum, excluded.minimum), maximum = GREATEST(r.maximum, excluded.maximum)"
)
"""The roll-ups of a write's new observations as 9 arrays (a few cells per device and code:
small). They come sorted by key, so that two nodes updating the same cells lock them in the
same order (no deadlock)."""
