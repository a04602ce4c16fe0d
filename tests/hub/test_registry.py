from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.db import Connection, open_db, transaction
from hub.errors import RegistryError
from hub.registry.core import Registry
from hub.registry.resolver import REFUSED
from tests.support.hub_db import HubDatabases

T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def registry(hub_db: Connection) -> Registry:
    """The registry on SQLite and on PostgreSQL (:mod:`tests.support.hub_db`)."""
    return Registry(hub_db)


def test_open_db_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_device_moves_between_residents(registry: Registry) -> None:
    registry.add_organisation("org", "Kommune")
    registry.add_team("team", "org", "Night team")
    registry.add_home("h1", "Flat 1", team_id="team")
    anna = registry.add_resident("Anna", "h1")
    bo = registry.add_resident("Bo", "h1")
    assert anna.id.startswith("r-")
    assert anna.id != bo.id
    assert "Anna" not in anna.id
    registry.assign("thermo-1", anna.id, T)
    registry.assign("thermo-1", bo.id, T + timedelta(days=10))  # moves: closes Anna's range
    assert registry.resolve("thermo-1", T - timedelta(seconds=1)) is None
    assert registry.resolve("thermo-1", T) == anna.id
    assert registry.resolve("thermo-1", T + timedelta(days=9, hours=23)) == anna.id
    assert registry.resolve("thermo-1", T + timedelta(days=10)) == bo.id
    assert registry.resolve("thermo-1", T + timedelta(days=400)) == bo.id
    registry.unassign("thermo-1", T + timedelta(days=20))
    assert registry.resolve("thermo-1", T + timedelta(days=20)) is None
    assert registry.resolve("other", T) is None
    assert [a.resident_id for a in registry.assignments("thermo-1")] == [anna.id, bo.id]


def test_overlapping_closed_assignment_is_refused(registry: Registry) -> None:
    a = registry.add_resident("A")
    b = registry.add_resident("B")
    registry.assign("d", a.id, T, T + timedelta(days=5))
    with pytest.raises(RegistryError, match="overlaps the assignment"):
        registry.assign("d", b.id, T + timedelta(days=2), T + timedelta(days=3))
    with pytest.raises(RegistryError, match="end must lie after start"):
        registry.assign("d", b.id, T, T)
    with pytest.raises(RegistryError, match="cannot assign"):
        registry.assign("d", "r-unknown", T + timedelta(days=6))


def test_resolver_sees_changes_made_through_another_connection(hub_dbs: HubDatabases) -> None:
    ingest_side = Registry(hub_dbs.open())
    admin_side = Registry(hub_dbs.open())
    resident = admin_side.add_resident("C")
    assert ingest_side.resolve("d", T) is None
    admin_side.assign("d", resident.id, T - timedelta(days=1))
    assert ingest_side.resolve("d", T) == resident.id


def test_publisher_tokens_are_stored_hashed(hub_dbs: HubDatabases) -> None:
    conn = hub_dbs.open()
    registry = Registry(conn)
    registry.add_publisher("vendor-x", "vendor")
    token = registry.issue_token("vendor-x")
    assert registry.authenticate(token) == "vendor-x"
    assert registry.authenticate(token + "x") is None
    if hub_dbs.engine == "sqlite":
        assert token.encode() not in hub_dbs.path.read_bytes()
    stored = conn.execute("SELECT id, kind, token_sha256, description FROM publisher").fetchall()
    assert len(stored) == 1
    assert stored[0][2] is not None
    assert not any(token in str(column) for column in stored[0])
    publisher = registry.publisher("vendor-x")
    assert publisher is not None
    assert publisher.has_token
    assert publisher.kind == "vendor"
    with pytest.raises(RegistryError, match="unknown publisher"):
        registry.issue_token("nobody")
    with pytest.raises(RegistryError, match="cannot add"):
        registry.add_publisher("vendor-x", "vendor")


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def test_a_device_belongs_to_its_homes_gateways_or_to_the_publisher_it_is_bound_to(
    registry: Registry,
) -> None:
    registry.add_home("h1", "Flat 1")
    registry.add_home("h2", "Flat 2")
    registry.add_publisher("gw-1", "gateway", "h1")
    registry.add_publisher("gw-1b", "gateway", "h1")  # a second gateway in the same home
    registry.add_publisher("gw-2", "gateway", "h2")
    registry.add_publisher("vendor", "vendor")
    anna = registry.add_resident("Anna", "h1")
    registry.assign("cuff", anna.id, T)
    registry.bind("cuff", "vendor", T + timedelta(days=1), T + timedelta(days=2))
    resolve = registry.resolver()
    before, bound, after = _us(T), _us(T + timedelta(days=1, hours=1)), _us(T + timedelta(days=3))
    assert [resolve("cuff", before, p) for p in ("gw-1", "gw-1b")] == [anna.id, anna.id]
    assert resolve("cuff", before, "gw-2") is REFUSED
    assert resolve("cuff", before, "vendor") is REFUSED
    assert resolve("cuff", bound, "vendor") == anna.id
    assert resolve("cuff", bound, "gw-1") is REFUSED  # the binding wins over the home
    assert resolve("cuff", after, "gw-1") == anna.id
    # unassigned and unbound: nobody's yet, stored without a resident
    assert resolve("cuff", _us(T - timedelta(seconds=1)), "gw-2") is None
    assert resolve("other", before, "vendor") is None


def test_bindings_follow_the_rules_of_assignments(registry: Registry) -> None:
    registry.add_publisher("v1", "vendor")
    registry.add_publisher("v2", "vendor")
    registry.bind("d", "v1", T)
    registry.bind("d", "v2", T + timedelta(days=1))  # closes the open-ended binding
    assert [(b.publisher_id, b.end) for b in registry.bindings("d")] == [
        ("v1", T + timedelta(days=1)),
        ("v2", None),
    ]
    with pytest.raises(RegistryError, match="overlaps the binding to v1"):
        registry.bind("d", "v2", T - timedelta(hours=1), T + timedelta(hours=1))
    with pytest.raises(RegistryError, match="unknown publisher 'nobody'"):
        registry.bind("d", "nobody", T)
    registry.unbind("d", T + timedelta(days=2))
    assert registry.resolver()("d", _us(T + timedelta(days=3)), "v1") is None
    assert registry.resolver()("d", _us(T + timedelta(hours=36)), "v1") is REFUSED


def test_a_first_seen_device_rolled_back_is_recorded_again(registry: Registry) -> None:
    conn = registry._conn

    def failed_commit() -> None:
        with transaction(conn):
            assert registry.note_devices({"new-dev": "gw-1"}, T) == ["new-dev"]
            raise RuntimeError("the ingest commit failed")

    with pytest.raises(RuntimeError):
        failed_commit()
    assert registry.devices() == []
    with transaction(conn):
        noted = registry.note_devices({"new-dev": "gw-1"}, T)
    registry.devices_noted(noted)
    assert registry.devices() == ["new-dev"]
    assert registry.note_devices({"new-dev": "gw-1"}, T) == []  # known now: not written again
