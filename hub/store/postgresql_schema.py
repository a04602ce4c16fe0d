"""The PostgreSQL store's schema (versioned, :mod:`hub.store.postgresql_db`) and statements.

Version 1 is the SQLite store's layout as it stands (hub.store.sqlite, version 27 of its
list), partitioned by month; append a version, never edit a released one.
"""

from __future__ import annotations

from hub.store.postgresql_db import Migration

__all__ = ["INSERT_OBSERVATIONS", "MIGRATIONS", "WRITE_REST"]

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
]

INSERT_OBSERVATIONS = (
    "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
    " effective_us, received_us, message, position, json, value, unit)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::text[],"
    " %s::float8[], %s::text[])"
    " ON CONFLICT DO NOTHING RETURNING effective_us, id, publisher"
)
"""Every observation of a write as 13 arrays; returns the keys of the rows that were new."""

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
