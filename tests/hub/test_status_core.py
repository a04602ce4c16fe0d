"""The system-status model's pure core (hub.status.core): every degraded state, readiness,
what each viewer is told, and since when a reason holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.status.core import (
    BLOCKS_READY,
    GatewaySeen,
    OrgSeen,
    Reason,
    Snapshot,
    StatusModel,
    assess,
)
from hub.status.settings import StatusSettings

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LIMITS = StatusSettings()
ORG_A = OrgSeen("org-a", "Aarhus", 2, (GatewaySeen("gw-a", True),), T0 + timedelta(minutes=9))
ORG_B = OrgSeen("org-b", "Bornholm", 1, (GatewaySeen("gw-b", True),), T0 + timedelta(minutes=9))
HEALTHY = Snapshot(
    now=T0 + timedelta(minutes=10),
    started=T0,
    broker="connected",
    store_fault=None,
    engine_running=True,
    rules=4,
    last_tick=T0 + timedelta(minutes=10),
    organisations=(ORG_A, ORG_B),
)


def at(span: timedelta, **change: object) -> Snapshot:
    """HEALTHY at T0 + span (the engine's timer ran just now)."""
    return replace(HEALTHY, now=T0 + span, last_tick=T0 + span, **change)  # type: ignore[arg-type]


def codes(reasons: tuple[Reason, ...]) -> list[str]:
    return [r.code for r in reasons]


def test_a_healthy_hub_vouches_for_calm_for_everyone() -> None:
    result = assess(HEALTHY, LIMITS)
    assert result.reasons == ()
    assert result.ready
    assert result.for_viewer(frozenset({"org-a"})) == ()
    assert result.for_viewer(None) == ()


HUB_WIDE = [
    ({"broker": "down"}, "broker_down", {}),
    ({"store_fault": "database is locked"}, "store_fault", {"detail": "database is locked"}),
    ({"engine_running": False}, "engine_stopped", {}),
    ({"leadership": True}, "no_alert_leader", {}),
    ({"last_tick": T0 + timedelta(minutes=9)}, "engine_stalled", {"seconds": 60}),
    ({"rules": 0}, "no_rules", {}),
    ({"oldest_waiting": T0 + timedelta(minutes=9)}, "ingest_lag", {"seconds": 60}),
    ({"backlog": 501}, "backlog", {"count": 501}),
    ({"outbox_overdue": 3}, "outbox_overdue", {"count": 3}),
    ({"outbox_failing": 2}, "outbox_failing", {"count": 2}),
]


@pytest.mark.parametrize(("change", "code", "values"), HUB_WIDE, ids=[c for _, c, _ in HUB_WIDE])
def test_each_hub_wide_degraded_state_is_named_to_every_viewer(
    change: dict[str, object], code: str, values: dict[str, object]
) -> None:
    result = assess(replace(HEALTHY, **change), LIMITS)  # type: ignore[arg-type]
    assert codes(result.reasons) == [code]
    assert result.reasons[0].values == values
    assert result.reasons[0].organisation is None
    assert codes(result.for_viewer(frozenset({"org-a"}))) == [code]
    assert codes(result.for_viewer(frozenset({"org-b"}))) == [code]
    assert codes(result.for_viewer(None)) == [code]
    assert result.ready is (code not in BLOCKS_READY)


def test_readiness_fails_on_broker_store_and_engine_only() -> None:
    assert {
        "broker_down",
        "store_fault",
        "engine_stopped",
        "engine_stalled",
        "no_alert_leader",
    } == BLOCKS_READY
    down = assess(replace(HEALTHY, broker="down", rules=0, backlog=9999), LIMITS)
    assert not down.ready
    assert [r.code for r in down.hub_wide if r.blocks_ready] == ["broker_down"]


def test_below_the_thresholds_nothing_is_reported() -> None:
    snap = replace(
        HEALTHY,
        broker="unused",  # a hub without MQTT (HTTP ingest only) is not "down"
        last_tick=HEALTHY.now - timedelta(seconds=29),
        oldest_waiting=HEALTHY.now - timedelta(seconds=29),
        backlog=500,
    )
    assert assess(snap, LIMITS).reasons == ()


def test_a_gateway_offline_is_told_to_its_organisation_only() -> None:
    org_a = replace(ORG_A, gateways=(GatewaySeen("gw-a", False), GatewaySeen("gw-a2", True)))
    result = assess(replace(HEALTHY, organisations=(org_a, ORG_B)), LIMITS)
    assert codes(result.reasons) == ["gateways_offline"]
    reason = result.reasons[0]
    assert (reason.organisation, reason.values) == (
        "org-a",
        {"org": "Aarhus", "count": 1, "names": "gw-a"},
    )
    assert codes(result.for_viewer(frozenset({"org-a"}))) == ["gateways_offline"]
    assert result.for_viewer(frozenset({"org-b"})) == ()
    assert codes(result.for_viewer(None)) == ["gateways_offline"]
    assert result.ready


def test_many_offline_gateways_are_named_up_to_three() -> None:
    gateways = tuple(GatewaySeen(f"gw-{i}", False) for i in range(5))
    result = assess(replace(HEALTHY, organisations=(replace(ORG_A, gateways=gateways),)), LIMITS)
    assert result.reasons[0].values["names"] == "gw-0, gw-1, gw-2 (+2)"
    assert result.reasons[0].values["count"] == 5


def test_a_gateway_never_heard_from_counts_as_offline_after_the_gateway_timeout() -> None:
    org = replace(ORG_A, gateways=(GatewaySeen("gw-new", None),))
    assert assess(at(timedelta(minutes=2), organisations=(org,)), LIMITS).reasons == ()
    later = assess(at(timedelta(minutes=3), organisations=(org,)), LIMITS)
    assert codes(later.reasons) == ["gateways_offline"]


def test_no_data_for_n_minutes_counts_from_the_last_reading_or_the_start() -> None:
    quiet = replace(ORG_A, last_data=T0 + timedelta(minutes=1))
    assert (
        assess(at(timedelta(minutes=15, seconds=59), organisations=(quiet,)), LIMITS).reasons == ()
    )
    result = assess(at(timedelta(minutes=16), organisations=(quiet,)), LIMITS)
    assert codes(result.reasons) == ["no_data"]
    assert result.reasons[0].values == {"org": "Aarhus", "minutes": 15}
    never = replace(ORG_A, last_data=None)
    assert assess(at(timedelta(minutes=14), organisations=(never,)), LIMITS).reasons == ()
    late = assess(at(timedelta(minutes=15), organisations=(never,)), LIMITS)
    assert codes(late.reasons) == ["no_data"]  # counted from the hub's start


def test_an_organisation_without_residents_expects_no_data() -> None:
    empty = OrgSeen("org-c", "Cirkus", 0)
    result = assess(at(timedelta(hours=5), organisations=(empty,)), LIMITS)
    assert result.reasons == ()
    told = result.for_viewer(frozenset({"org-c"}))
    assert codes(told) == ["no_residents"]
    assert told[0].values == {"org": "Cirkus"}


def test_a_misspelt_organisation_is_said_plainly() -> None:
    result = assess(HEALTHY, LIMITS)
    told = result.for_viewer(frozenset({"org-aa"}))
    assert codes(told) == ["org_unknown"]
    assert told[0].values == {"org": "org-aa"}


def test_a_user_in_no_organisation_is_told_so() -> None:
    assert codes(assess(HEALTHY, LIMITS).for_viewer(frozenset())) == ["no_organisation"]


def test_an_empty_registry_is_said_to_an_administrator_of_all() -> None:
    result = assess(replace(HEALTHY, organisations=()), LIMITS)
    assert codes(result.for_viewer(None)) == ["no_residents_any"]


def test_hub_wide_reasons_come_first_then_the_organisations() -> None:
    org_a = replace(ORG_A, gateways=(GatewaySeen("gw-a", False),))
    result = assess(replace(HEALTHY, broker="down", organisations=(org_a, ORG_B)), LIMITS)
    assert codes(result.for_viewer(frozenset({"org-a", "org-x"}))) == [
        "broker_down",
        "org_unknown",
        "gateways_offline",
    ]


def test_the_model_remembers_since_when_each_reason_holds() -> None:
    model = StatusModel(LIMITS)
    first = model.update(replace(HEALTHY, broker="down"))
    assert first.reasons[0].since == HEALTHY.now
    later = HEALTHY.now + timedelta(seconds=20)
    second = model.update(replace(HEALTHY, now=later, last_tick=later, broker="down", rules=0))
    assert [(r.code, r.since) for r in second.reasons] == [
        ("broker_down", HEALTHY.now),
        ("no_rules", later),
    ]
    third = model.update(replace(HEALTHY, now=later, last_tick=later))
    assert third.reasons == ()
    again = model.update(replace(HEALTHY, now=later, last_tick=later, broker="down"))
    assert again.reasons[0].since == later  # a new episode, not the old one
    assert model.current is again


def test_reasons_serialise_for_readyz_and_describe_for_the_log() -> None:
    reason = Reason("store_fault", (("detail", "disk full"),), None, T0)
    assert reason.as_dict() == {
        "code": "store_fault",
        "organisation": None,
        "since": T0.isoformat(),
        "detail": "disk full",
    }
    assert reason.describe() == "store_fault: detail=disk full"
    org = Reason("no_data", (("org", "Aarhus"), ("minutes", 15)), "org-a")
    assert org.describe() == "no_data (org-a): org=Aarhus, minutes=15"
