from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.db import migrate, open_db
from hub.errors import RegistryError, StoreError
from hub.registry import Registry

T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(open_db(tmp_path / "hub.sqlite3"))


def test_open_db_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_migrate_applies_each_statement_once_per_component(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.sqlite3")
    assert migrate(conn, "demo", ["CREATE TABLE a (x)"]) == 1
    assert migrate(conn, "demo", ["CREATE TABLE a (x)", "CREATE TABLE b (y)"]) == 2
    assert migrate(conn, "other", ["CREATE TABLE a2 (x)"]) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"a", "b", "a2"} <= tables
    with pytest.raises(StoreError, match="this code knows only 1"):
        migrate(conn, "demo", ["CREATE TABLE a (x)"])


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


def test_resolver_sees_changes_made_through_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    ingest_side = Registry(open_db(path))
    admin_side = Registry(open_db(path))
    resident = admin_side.add_resident("C")
    assert ingest_side.resolve("d", T) is None
    admin_side.assign("d", resident.id, T - timedelta(days=1))
    assert ingest_side.resolve("d", T) == resident.id


def test_publisher_tokens_are_stored_hashed(registry: Registry, tmp_path: Path) -> None:
    registry.add_publisher("vendor-x", "vendor")
    token = registry.issue_token("vendor-x")
    assert registry.authenticate(token) == "vendor-x"
    assert registry.authenticate(token + "x") is None
    raw = (tmp_path / "hub.sqlite3").read_bytes()
    assert token.encode() not in raw
    publisher = registry.publisher("vendor-x")
    assert publisher is not None
    assert publisher.has_token
    assert publisher.kind == "vendor"
    with pytest.raises(RegistryError, match="unknown publisher"):
        registry.issue_token("nobody")
    with pytest.raises(RegistryError, match="cannot add"):
        registry.add_publisher("vendor-x", "vendor")
