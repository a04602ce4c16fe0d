"""The consent repository: allows, listing, revocation at once, organisation checks, audit;
on SQLite and PostgreSQL (:mod:`tests.support.hub_db`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from foundation.clock import ManualClock
from hub.admin.audit import admin_actions
from hub.db import Connection
from hub.fhir.consent import Consents, consent_resource
from hub.fhir.errors import ConsentError
from hub.registry.core import Registry

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


@pytest.fixture
def conn(hub_db: Connection) -> Connection:
    db = hub_db
    registry = Registry(db)
    for org in ("kommune-a", "kommune-b", "hospital"):
        registry.add_organisation(org, org)
    registry.add_team("team-a", "kommune-a", "A")
    registry.add_team("team-b", "kommune-b", "B")
    registry.add_home("home-a", team_id="team-a")
    registry.add_home("home-b", team_id="team-b")
    registry.add_resident("Anna", "home-a", resident_id="r-aaaaaaaaaaaaaaaa")
    registry.add_resident("Bent", "home-b", resident_id="r-bbbbbbbbbbbbbbbb")
    return db


def test_allows_only_inside_period_and_until_revoked(conn: Connection) -> None:
    clock = ManualClock(T0)
    consents = Consents(conn, clock)
    c = consents.add(
        "r-aaaaaaaaaaaaaaaa", "hospital", "TREAT", T0, T0 + timedelta(days=30), actor="cli:t"
    )
    rid = "r-aaaaaaaaaaaaaaaa"
    assert not consents.allows(rid, "hospital", "TREAT", T0 - timedelta(seconds=1))
    assert consents.allows(rid, "hospital", "TREAT", T0)
    assert not consents.allows(rid, "hospital", "HRESCH", T0)
    assert not consents.allows(rid, "kommune-b", "TREAT", T0)
    assert not consents.allows(rid, "hospital", "TREAT", T0 + timedelta(days=30))
    assert consents.consented_residents("hospital", T0 + timedelta(days=1)) == [rid]
    clock.advance(days=2)
    consents.revoke(c.id, actor="cli:t")
    assert not consents.allows(rid, "hospital", "TREAT", clock())
    assert consents.allows(rid, "hospital", "TREAT", T0 + timedelta(days=1))
    assert consents.consented_residents("hospital", clock()) == []
    resource = consent_resource(consents.get(c.id) or c, clock())
    assert resource["status"] == "inactive"
    actions = [a.action for a in admin_actions(conn, frozenset({"hospital"}))]
    assert actions == ["consent_revoked", "consent_added"]


def test_refuses_other_organisation_and_bad_terms(conn: Connection) -> None:
    consents = Consents(conn, ManualClock(T0))
    rid = "r-aaaaaaaaaaaaaaaa"
    with pytest.raises(ConsentError, match="another organisation"):
        consents.add(
            rid, "hospital", "TREAT", T0, None, actor="u", actor_orgs=frozenset({"kommune-b"})
        )
    with pytest.raises(ConsentError, match="not in the registry"):
        consents.add(rid, "nowhere", "TREAT", T0, None, actor="u")
    with pytest.raises(ConsentError, match="purpose 'FUN'"):
        consents.add(rid, "hospital", "FUN", T0, None, actor="u")
    with pytest.raises(ConsentError, match="before it starts"):
        consents.add(rid, "hospital", "TREAT", T0, T0, actor="u")
    with pytest.raises(ConsentError, match="no such resident"):
        consents.add("r-0000000000000000", "hospital", "TREAT", T0, None, actor="u")
    c = consents.add(rid, "hospital", "TREAT", T0, None, actor="u")
    with pytest.raises(ConsentError, match="another organisation"):
        consents.revoke(c.id, actor="u", actor_orgs=frozenset({"kommune-b"}))
    assert [x.id for x in consents.listing(frozenset({"kommune-a"}))] == [c.id]
    assert consents.listing(frozenset({"kommune-b"})) == []
    consents.revoke(c.id, actor="u")
    with pytest.raises(ConsentError, match="already revoked"):
        consents.revoke(c.id, actor="u")


def test_a_consent_is_revoked_never_deleted(conn: Connection) -> None:
    consents = Consents(conn, ManualClock(T0))
    consents.add("r-aaaaaaaaaaaaaaaa", "hospital", "TREAT", T0, None, actor="cli:t")
    with pytest.raises(sqlite3.IntegrityError, match="revoked, never deleted"):
        conn.execute("DELETE FROM fhir_consent")
    assert consents.allows("r-aaaaaaaaaaaaaaaa", "hospital", "TREAT", T0)
