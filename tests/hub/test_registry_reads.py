"""The registry's read side (views, figures, ownership) and gateway status, on both engines.

The same registry as the web pages, the admin commands and ingest read it, against SQLite and
PostgreSQL (:mod:`tests.support.hub_db`): organisation filters, ownership of devices never
assigned, the gateways of a home as one column, and the upserts of gateway status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.db import Connection
from hub.registry import figures, ownership, views
from hub.registry.core import Registry
from hub.registry.gateways import Gateways
from hub.registry.read_model import ReadModel
from schemas.models import GatewayStatus, StatusKind

T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def registry(hub_db: Connection) -> Registry:
    registry = Registry(hub_db)
    for org in ("north", "south"):
        registry.add_organisation(org, org.title())
        registry.add_team(f"team-{org}", org, f"Team {org}")
        registry.add_home(f"home-{org}", f"Flat {org}", team_id=f"team-{org}")
        registry.add_publisher(f"gw-{org}", "gateway", f"home-{org}")
    registry.add_publisher("gw-north-2", "gateway", "home-north")
    anna = registry.add_resident("Anna", "home-north", resident_id="r-anna")
    registry.add_resident("Bo", "home-south", resident_id="r-bo")
    registry.assign("cuff", anna.id, T)
    registry.set_spo2_scale(anna.id, 2)
    with_first_seen = registry.note_devices({"stray": "gw-south", "lost": "nobody"}, T)
    registry.devices_noted(with_first_seen)
    return registry


def test_views_keep_each_organisation_to_its_own(registry: Registry, hub_db: Connection) -> None:
    north = frozenset({"north"})
    assert [r.id for r in views.residents(hub_db, north)] == ["r-anna"]
    assert [r.id for r in views.residents(hub_db, None)] == ["r-anna", "r-bo"]
    assert views.resident(hub_db, "r-bo", north) is None
    home = views.homes(hub_db, north)
    assert [(h.id, h.gateways, h.organisation) for h in home] == [
        ("home-north", ("gw-north", "gw-north-2"), "north")
    ]
    assert views.homes(hub_db, frozenset()) == []
    # cuff: assigned to north's resident; stray: first heard by south's gateway; lost: nobody's
    assert [(d.id, d.organisation, d.claimed) for d in views.devices(hub_db, north)] == [
        ("cuff", "north", True),
        ("lost", None, False),
    ]
    cuff = views.device(hub_db, "cuff", north)
    assert cuff is not None
    assert (cuff.resident_name, cuff.since) == ("Anna", T)
    assert views.device(hub_db, "stray", north) is None
    assert [d.id for d in views.devices_of_resident(hub_db, "r-anna")] == ["cuff"]
    assert [a.resident_name for a in views.assignments_of_device(hub_db, "cuff", north)] == ["Anna"]
    assert views.assignments_of_device(hub_db, "cuff", frozenset({"south"})) == []
    assert [t.id for t in views.teams(hub_db, north)] == ["team-north"]
    assert views.resident_names(hub_db, ["r-bo", "r-anna", "r-bo"]) == {
        "r-anna": "Anna",
        "r-bo": "Bo",
    }


def test_ownership_and_figures(registry: Registry, hub_db: Connection) -> None:
    assert ownership.organisation_of_team(hub_db, "team-south") == "south"
    assert ownership.organisation_of_home(hub_db, "home-north") == "north"
    assert ownership.organisation_of_resident(hub_db, "r-bo") == "south"
    assert ownership.organisation_of_publisher(hub_db, "gw-north-2") == "north"
    assert ownership.organisation_of_device(hub_db, "cuff") == "north"
    assert ownership.organisation_of_device(hub_db, "stray") == "south"
    assert ownership.organisation_of_device(hub_db, "lost") is None
    assert figures.publishers_of(hub_db, frozenset({"north"})) == ["gw-north", "gw-north-2"]
    assert [(o.id, o.residents) for o in figures.organisations_with_residents(hub_db)] == [
        ("north", 1),
        ("south", 1),
    ]
    assert figures.spo2_scales(hub_db) == {"r-anna": 2}
    assert figures.device_seen(hub_db, "stray")
    assert not figures.device_seen(hub_db, "cuff")
    assert figures.home_rows(hub_db)[0] == ("home-north", "team-north", "Flat north")
    model = ReadModel(hub_db)
    model.refresh()
    assert model.resident_place("r-anna") == ("home-north", "north")
    assert model.spo2_scale("r-anna") == 2


def _status(kind: StatusKind, at: datetime) -> GatewayStatus:
    return GatewayStatus(
        publisher="gw-north", kind=kind, online=kind is not StatusKind.DEATH, time=at
    )


def test_gateway_status_changes(registry: Registry, hub_db: Connection) -> None:
    gateways = Gateways(hub_db)
    first = gateways.record(_status(StatusKind.BIRTH, T), T)
    assert first is not None
    assert (first.online, first.previous_online) == (True, None)
    assert gateways.record(_status(StatusKind.HEARTBEAT, T + timedelta(minutes=1)), T) is None
    stale = _status(StatusKind.DEATH, T - timedelta(hours=1))
    assert gateways.record(stale, T, retained=True) is None  # an older retained status
    assert gateways.touch(["gw-north"], T + timedelta(minutes=5)) == []
    expired = gateways.expire(T + timedelta(minutes=20), timedelta(minutes=10))
    assert [(c.publisher, c.kind) for c in expired] == [("gw-north", "timeout")]
    assert gateways.counts() == (0, 1)
    back = gateways.touch(["gw-north"], T + timedelta(minutes=21))
    assert [(c.online, c.kind) for c in back] == [(True, "data")]
    state = gateways.get("gw-north")
    assert state is not None
    assert state.last_seen == T + timedelta(minutes=21)
    older = gateways.touch(["gw-north"], T + timedelta(minutes=2))  # last seen never goes back
    assert older == []
    assert gateways.all()[0].last_seen == T + timedelta(minutes=21)
    online = [g.online for g in figures.gateways_by_organisation(hub_db)]
    assert online == [True, None, None]
