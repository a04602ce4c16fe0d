"""The ledger's repository on SQLite and PostgreSQL (one suite): dead letters kept as
received (payload bytes, errors, counts; an oversized payload cut), read newest first with
each filter, removed by age; counters that add up across writers and within a transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.db import Connection, transaction
from hub.store.ledger import REJECTION_COUNTER, DeadLetter, Ledger
from schemas.models import MAX_PAYLOAD_BYTES, RejectionError
from tests.support.hub_db import HubDatabases

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _letter(
    publisher: str | None, at: datetime, *, payload: bytes = b"\x00{bad", reason: str = "x"
) -> DeadLetter:
    errors = (RejectionError(path="$.publisher", reason=reason, observation_id="o-1"),)
    return DeadLetter(
        at, "mqtt", f"hjem/v1/{publisher}/obs", publisher, "m-1", 1, 2, errors, payload
    )


def test_dead_letters_round_trip_newest_first_with_every_filter(hub_db: Connection) -> None:
    ledger = Ledger(hub_db)
    big = bytes(range(256)) * (MAX_PAYLOAD_BYTES // 256 + 2)
    ledger.add_dead_letters(
        [
            _letter("gw-a", T0),
            _letter(None, T0 + timedelta(seconds=1), payload=big),
            _letter("gw-b", T0 + timedelta(seconds=2), reason="does not match the sender"),
        ]
    )
    ledger.add_dead_letters([])  # nothing to add: no statement, no counter
    newest, oversized, oldest = ledger.dead_letters()
    assert [d.publisher for d in (newest, oversized, oldest)] == ["gw-b", None, "gw-a"]
    assert oldest == _letter("gw-a", T0)  # every field as written, bytes and errors included
    assert oversized.payload == big[:MAX_PAYLOAD_BYTES]
    assert ledger.dead_letters("gw-a") == [oldest]
    assert ledger.dead_letters(publishers=["gw-a", "gw-b"]) == [newest, oldest]
    assert ledger.dead_letters(publishers=[]) == []
    assert ledger.dead_letters(since=T0 + timedelta(seconds=1)) == [newest, oversized]
    assert ledger.dead_letters(limit=1) == [newest]
    truncated = hub_db.execute("SELECT truncated FROM dead_letter ORDER BY received_us")
    assert [int(r[0]) for r in truncated] == [0, 1, 0]
    assert ledger.counters() == {
        f"{REJECTION_COUNTER}schema|gw-a": 1,
        f"{REJECTION_COUNTER}schema|": 1,
        f"{REJECTION_COUNTER}publisher_mismatch|gw-b": 1,
    }


def test_old_dead_letters_are_removed_by_age(hub_db: Connection) -> None:
    ledger = Ledger(hub_db)
    ledger.add_dead_letters([_letter("gw-a", T0 + timedelta(hours=h)) for h in range(4)])
    assert ledger.delete_before(T0 + timedelta(hours=2)) == 2
    assert [d.received for d in ledger.dead_letters()] == [
        T0 + timedelta(hours=3),
        T0 + timedelta(hours=2),
    ]
    assert ledger.delete_before(T0) == 0


def test_counters_add_up_across_connections_and_roll_back_with_their_transaction(
    hub_dbs: HubDatabases,
) -> None:
    one, two = Ledger(hub_dbs.open()), Ledger(hub_dbs.open())  # two hub nodes, one database
    one.bump({"obs_messages_received": 2, "observations_stored": 0})
    two.bump({"obs_messages_received": 3})
    conn = hub_dbs.open()
    three = Ledger(conn)

    def failing_batch() -> None:
        three.bump({"obs_messages_received": 100})
        three.add_dead_letters([_letter("gw-c", T0)])
        raise RuntimeError("the batch fails after the ledger wrote")

    with pytest.raises(RuntimeError), transaction(conn):
        failing_batch()
    assert one.counters() == {"obs_messages_received": 5}  # a zero is not written
    assert two.dead_letters() == []
    with transaction(conn):
        three.bump({"obs_messages_received": 1})
    assert two.counters() == {"obs_messages_received": 6}
