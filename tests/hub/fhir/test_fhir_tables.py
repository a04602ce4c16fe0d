"""The FHIR facade's own tables on SQLite and PostgreSQL: the access log (filed per
organisation, append-only) and the clients' assertion ids (each used once)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from foundation.clock import ManualClock
from hub.db import Connection
from hub.fhir.access_log import AccessLog
from hub.fhir.clients import FhirClients
from hub.registry.core import Registry

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.fixture
def registry(hub_db: Connection) -> Registry:
    registry = Registry(hub_db)
    for org in ("kommune-a", "hospital"):
        registry.add_organisation(org, org)
    registry.add_team("team-a", "kommune-a", "A")
    registry.add_home("home-a", team_id="team-a")
    registry.add_resident("Anna", "home-a", resident_id="r-a")
    registry.add_resident("Nobody", None, resident_id="r-x")
    return registry


def test_access_log_is_filed_per_organisation_and_append_only(
    registry: Registry, hub_db: Connection
) -> None:
    log = AccessLog(hub_db)
    first = log.record(
        time=T0,
        client_id="hospital-app",
        organisation="hospital",
        residents=["r-a"],
        method="GET",
        query="/fhir/Observation?subject=r-a",
        returned=3,
        status=200,
    )
    second = log.record(
        time=T0 + timedelta(minutes=1),
        client_id="hospital-app",
        organisation="hospital",
        residents=["r-x"],
        method="GET",
        query="/fhir/Patient/r-x",
        returned=0,
        status=403,
        outcome="no consent",
    )
    assert second > first
    assert [e.seq for e in log.entries(frozenset({"kommune-a"}))] == [first]
    assert [e.seq for e in log.entries(frozenset({"hospital"}))] == [second, first]
    [only] = log.entries(None, resident_id="r-x")
    assert (only.status, only.outcome, only.time) == (403, "no consent", T0 + timedelta(minutes=1))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        hub_db.execute("DELETE FROM fhir_access")


def test_an_assertion_id_is_used_once(registry: Registry, hub_db: Connection) -> None:
    clients = FhirClients(hub_db, ManualClock(T0))
    assert clients.use_jti("hospital-app", "jti-1", T0 + timedelta(minutes=5))
    assert not clients.use_jti("hospital-app", "jti-1", T0 + timedelta(minutes=5))  # replay
    assert clients.use_jti("other-app", "jti-1", T0 + timedelta(minutes=5))
