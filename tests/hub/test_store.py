"""The observation stores' shared behaviour, one suite run against SQLite and PostgreSQL.

Each test gets a fresh store: a SQLite file in its temporary directory, or an empty database
on the suite's PostgreSQL (:mod:`tests.support.postgres`). What only one engine has (SQLite's
earlier layouts, PostgreSQL's partitions and migrations) is tested in test_store_sqlite.py
and test_store_postgresql.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.config import PostgresSettings, RetentionSettings
from hub.db import open_db
from hub.store.base import StoredObservation
from hub.store.postgresql import PostgresStore
from hub.store.sqlite import SqliteStore
from schemas.builders import component, make_observation
from schemas.models import Batch, DeviceInfo, Source, encode

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SRC = Source(publisher="gw-1", device=DeviceInfo(id="thermo-1"))
CUFF = Source(publisher="gw-1", device=DeviceInfo(id="cuff-1"))

Store = SqliteStore | PostgresStore
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def temp(minute: float, value: str, resident: str | None = "r-a") -> StoredObservation:
    obs = make_observation(
        "body_temperature", source=SRC, effective=T0 + timedelta(minutes=minute), value=value
    )
    return StoredObservation(obs, "gw-1", resident, T0)


def open_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, retention: RetentionSettings
) -> Store:
    """A fresh store of ``backend`` (PostgreSQL: on a database of the test's own)."""
    if backend == "sqlite":
        return SqliteStore(open_db(tmp_path / "hub.sqlite3"), retention)
    dsn = request.getfixturevalue("postgres_dsn")
    return PostgresStore.open(PostgresSettings(dsn=SecretStr(dsn)), retention)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(request.param, request, tmp_path, RetentionSettings(raw_days=30))
    yield opened
    opened.close()


def test_write_is_idempotent_and_returns_only_new(store: Store) -> None:
    first = [temp(i, "36.5") for i in range(10)]
    assert store.write(first) == 10
    again = [*first[5:], temp(10, "37.0"), temp(10, "37.0")]  # repeats and a duplicate
    new = store.write_new(again)
    assert [n.id for n in new] == [temp(10, "37.0").id]
    assert store.write(first) == 0
    assert store.count() == 11


def test_query_rollup_and_latest(store: Store) -> None:
    store.write(
        [temp(i, v) for i, v in enumerate(["36.0", "36.4", "38.0", "37.0", "36.6", "37.2"])]
    )
    code = "150364"
    samples = store.query(resident_id="r-a", code=code, start=T0, end=T0 + timedelta(minutes=3))
    assert [s.value for s in samples] == [36.0, 36.4, 38.0]
    assert samples[0].unit == "Cel"
    assert samples[0].device_id == "thermo-1"
    by_device = store.query(device_id="thermo-1", code=code, start=T0, end=T0 + timedelta(hours=1))
    assert len(by_device) == 6
    buckets = store.rollup(
        resident_id="r-a",
        code=code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(minutes=5),
    )
    assert [(b.count, b.minimum, b.maximum) for b in buckets] == [(5, 36.0, 38.0), (1, 37.2, 37.2)]
    assert buckets[0].mean == pytest.approx((36.0 + 36.4 + 38.0 + 37.0 + 36.6) / 5)
    adhoc = store.rollup(
        resident_id="r-a",
        code=code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(minutes=2),
    )
    assert [b.count for b in adhoc] == [2, 2, 2]
    hourly = store.rollup(
        device_id="thermo-1",
        code=code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(hours=1),
    )
    assert [(b.count, b.maximum) for b in hourly] == [(6, 38.0)]
    latest = store.latest("r-a")
    assert latest[code].value == 37.2
    assert latest[code].time == T0 + timedelta(minutes=5)


def test_rollups_do_not_count_redeliveries(store: Store) -> None:
    items = [temp(i, "36.0") for i in range(3)]
    store.write(items)
    store.write(items)
    [bucket] = store.rollup(
        resident_id="r-a",
        code="150364",
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(minutes=5),
    )
    assert bucket.count == 3


def test_compound_components_become_samples(store: Store) -> None:
    bp = make_observation(
        "blood_pressure",
        source=CUFF,
        effective=T0,
        components=[
            component("blood_pressure_systolic", "141"),
            component("blood_pressure_diastolic", "92"),
        ],
    )
    store.write([StoredObservation(bp, "gw-1", "r-a", T0)])
    latest = store.latest("r-a")
    assert latest["150021"].value == 141.0
    assert latest["150022"].value == 92.0
    [full] = store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(seconds=1))
    assert full.observation == bp


def test_unassigned_device_is_stored_without_resident(store: Store) -> None:
    store.write([temp(0, "36.1", resident=None)])
    [sample] = store.query(device_id="thermo-1", code="150364", start=T0, end=T0 + timedelta(1))
    assert sample.resident_id is None


def test_retention_keeps_rollups_longer_than_raw(store: Store) -> None:
    store.write([temp(0, "36.1"), temp(1, "36.3")])
    store.write([temp(30.5 * 1440, "36.4")])  # within raw_days of the retention run
    deleted = store.apply_retention(T0 + timedelta(days=31))
    assert deleted == 2  # 2 observations (their values live in their rows)
    assert store.count() == 1
    [bucket] = store.rollup(
        resident_id="r-a",
        code="150364",
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(hours=1),
    )
    assert bucket.count == 2


def test_subject_must_be_one_of_resident_or_device(store: Store) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        store.query(code="x", start=T0, end=T0)


def test_same_id_at_another_time_is_another_observation(store: Store) -> None:
    first = temp(1, "36.6")
    moved = StoredObservation(
        first.observation.model_copy(update={"effective": T0 + timedelta(minutes=9)}),
        "gw-1",
        "r-a",
        T0,
    )
    assert store.write_new([first, first]) == [first]
    assert store.write_new([first, moved]) == [moved]
    assert store.count() == 2


def test_the_same_id_and_time_from_another_publisher_is_another_observation(
    store: Store,
) -> None:
    genuine = temp(1, "39.5")
    decoy = StoredObservation(genuine.observation, "vendor-x", None, T0)
    assert store.write_new([decoy]) == [decoy]
    assert store.write_new([genuine, decoy]) == [genuine]  # the decoy pre-empts nothing
    assert store.write_new([genuine, decoy]) == []
    assert store.count() == 2
    [bucket] = store.rollup(
        resident_id="r-a",
        code=genuine.code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(hours=1),
    )
    assert (bucket.count, bucket.maximum) == (1, 39.5)  # the redelivery counted once


def _batch_items(message: str, minutes: list[float]) -> list[StoredObservation]:
    observations = [temp(m, f"36.{i % 10}").observation for i, m in enumerate(minutes)]
    payload = encode(
        Batch(message_id=message, publisher="gw-1", sent=T0, observations=observations)
    )
    return [StoredObservation(o, "gw-1", "r-a", T0, payload, i) for i, o in enumerate(observations)]


def test_observations_of_messages_are_read_back_as_received(store: Store) -> None:
    large = _batch_items("m-large", [m / 4 for m in range(20)])  # deflated when stored
    small = _batch_items("m-small", [7, 8])
    redelivered = _batch_items("m-again", [m / 4 for m in range(20)])  # the same readings
    assert store.write(large + small) == 22
    assert store.write(redelivered) == 0
    full = store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(hours=1))
    assert [o.observation for o in full] == [i.observation for i in large + small]
    assert {o.publisher for o in full} == {"gw-1"}
    assert (
        store.observations(
            resident_id="r-a", code="no-such-code", start=T0, end=T0 + timedelta(hours=1)
        )
        == []
    )


def test_a_write_of_old_and_new_messages_stores_the_new_ones_whole(store: Store) -> None:
    """A redelivered message and a new one in one write: only the new observations count,
    their message is kept (they read back from it), the roll-ups count each reading once."""
    old = _batch_items("m-old", [m / 4 for m in range(20)])
    new = _batch_items("m-new", [10 + m / 4 for m in range(20)])
    assert len(store.write_new(old[:12])) == 12
    stored = store.write_new([*old, *new])
    assert [i.key for i in stored] == [i.key for i in [*old[12:], *new]]
    full = store.observations(resident_id="r-a", start=T0, end=T0 + timedelta(hours=1))
    assert [o.observation for o in full] == [i.observation for i in [*old, *new]]
    [bucket] = store.rollup(
        resident_id="r-a",
        code=old[0].code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(hours=1),
    )
    assert bucket.count == 40


def test_a_batch_of_many_devices_and_codes_is_stored_and_counted_once(store: Store) -> None:
    items = [
        StoredObservation(
            make_observation(
                "heart_rate",
                source=Source(publisher="gw-1", device=DeviceInfo(id=f"hr-{d}")),
                effective=T0 + timedelta(seconds=s),
                value=str(60 + s % 40),
            ),
            "gw-1",
            f"r-{d}",
            T0,
        )
        for d in range(5)
        for s in range(200)
    ]
    assert len(store.write_new(items)) == 1000
    assert store.write_new(items[::-1]) == []
    assert store.count() == 1000
    [bucket] = store.rollup(
        device_id="hr-3",
        code=items[0].code,
        start=T0,
        end=T0 + timedelta(hours=1),
        width=timedelta(hours=1),
    )
    assert (bucket.count, bucket.minimum, bucket.maximum) == (200, 60.0, 99.0)


def test_stored_since_numbers_in_commit_order_payloads_included(store: Store) -> None:
    """The push exporter's feed: what was stored after a number, oldest commit first, with
    observations read back from their message payload as well as from their own JSON."""
    assert store.last_stored() == 0
    first = [temp(5, "36.5"), temp(1, "36.1")]
    store.write(first)
    payload = encode(
        Batch(
            message_id="m-1", publisher="gw-1", sent=T0, observations=[temp(3, "36.3").observation]
        )
    )
    store.write([StoredObservation(temp(3, "36.3").observation, "gw-1", "r-a", T0, payload, 0)])
    store.write(first)  # a redelivery: nothing new, no number
    numbered = store.stored_since(0, 10)
    assert [item.observation for _, item in numbered] == [
        *(f.observation for f in first),
        temp(3, "36.3").observation,
    ]
    numbers = [n for n, _ in numbered]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3
    assert store.last_stored() >= numbers[-1]  # (a duplicate may leave a number unused)
    assert store.stored_since(store.last_stored(), 10) == []
    assert [n for n, _ in store.stored_since(numbers[0], 1)] == [numbers[1]]
    assert store.stored_since(numbers[-1], 10) == []


def test_stored_since_pages_that_cut_messages_read_every_observation(store: Store) -> None:
    """Pages of every size over two messages' observations (one deflated, one not) and one
    stored as its own JSON: each page decodes what it holds, whichever of a message's
    observations it starts with (the payload comes once per message and page)."""
    large = _batch_items("m-large", [m / 4 for m in range(20)])
    small = _batch_items("m-small", [7, 8, 9])
    store.write([*large[:7], *small[:2], temp(30, "36.9"), *large[7:], small[2]])
    wanted = [
        i.observation for i in [*large[:7], *small[:2], temp(30, "36.9"), *large[7:], small[2]]
    ]
    for size in (1, 2, 3, 5, 8, 24):
        read, cursor = [], 0
        while page := store.stored_since(cursor, size):
            read += [item.observation for _, item in page]
            cursor = page[-1][0]
        assert read == wanted, size


def test_numbers_are_not_given_out_again_after_retention(store: Store) -> None:
    store.write([temp(0, "36.1"), temp(1, "36.2")])
    top = store.last_stored()
    store.apply_retention(T0 + timedelta(days=31))
    store.write([temp(2, "36.3")])
    [(number, item)] = store.stored_since(top, 10)
    assert number > top
    assert item.observation == temp(2, "36.3").observation
