"""Care-staff essentials without a browser: alert texts per language from the stored trigger,
escalation minutes, vitals matched by code (every glucose type), out-of-range from the loaded
threshold rules, and the alerts API's trigger and acknowledgement fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts.config import parse_rules
from hub.alerts.errors import RulesConfigError
from hub.alerts.store import AlertRow, AuditEntry
from hub.store.base import Sample
from hub.web.alert_text import alert_title, audit_note, reading
from hub.web.i18n import translator
from hub.web.views.board import minutes_left
from hub.web.vitals import VITALS, latest_values, out_of_range, thresholds_for
from schemas.models import AlertState, Severity
from tests.hub.web.conftest import SignedIn
from tests.support.browser import T0, FastWorld

DA, EN = translator("da"), translator("en")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RULES = parse_rules(
    """
[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.5
severity = "medium"
summaries = { da = "Feber", en = "Fever" }

[[rule]]
id = "fever-high"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 39.5
severity = "high"

[[rule]]
id = "low-glucose"
kind = "threshold"
measure = "glucose_capillary_whole_blood"
operator = "<"
value = 4
"""
)


def row(
    rule: str, detail: dict[str, object], value: float | None = None, unit: str = ""
) -> AlertRow:
    return AlertRow(
        id="a-1",
        rule=rule,
        subject="resident:r-1",
        resident="r-1",
        home=None,
        organisation="org-a",
        state=AlertState.ACTIVE_UNACK,
        severity=Severity.HIGH,
        summary="English text from the engine",
        assignee=None,
        sequence=0,
        opened=NOW,
        updated=NOW,
        trigger_value=value,
        trigger_unit=unit or None,
        trigger_time=NOW,
        trigger_detail=detail,
    )


def test_titles_follow_the_language_and_the_rules_summaries() -> None:
    fever = row("fever", {"kind": "threshold", "watch": "body_temperature"}, 39.0, "Cel")
    assert (alert_title(fever, RULES, DA), alert_title(fever, RULES, EN)) == ("Feber", "Fever")
    detail = {"kind": "threshold", "watch": "spo2", "operator": "<", "limit": 92.0}
    spo2 = row("spo2-low", detail, 88, "%")
    assert alert_title(spo2, RULES, DA) == "Iltmætning 88 % < 92"
    assert alert_title(spo2, RULES, EN) == "SpO₂ 88 % < 92"
    news = row(
        "news2",
        {"kind": "news2", "points": {"spo2_scale_1": 3}, "missing": ["air_or_oxygen"]},
        6,
    )
    assert alert_title(news, None, DA) == (
        "NEWS2 (målinger i hjemmet) 6: iltmætning (skala 1) 3; ikke med i scoren: ilttilskud"
    )
    pendant = row("panic", {"kind": "event", "watch": "button", "code": "long_press"})
    assert alert_title(pendant, None, DA) == "Knaphændelse: langt tryk"
    gateway = row("gw", {"kind": "gateway_offline", "gateway": "gw-a", "why": "last_will"})
    assert alert_title(gateway, None, EN) == "Gateway gw-a lost its connection"
    old = row("gone", {})
    assert alert_title(old, None, DA) == "English text from the engine"  # from before triggers
    assert reading(row("x", {}, 39.44, "Cel"), DA) == "39,4 °C"


def test_engine_notes_are_translated_and_user_notes_kept() -> None:
    entry = AuditEntry(
        "a-1",
        1,
        NOW,
        "system",
        "escalate",
        AlertState.ACTIVE_UNACK,
        AlertState.ACTIVE_UNACK,
        "not acknowledged in time; escalated to team:lead",
        {"responder": "team:lead"},
    )
    assert audit_note(entry, DA) == "ikke kvitteret i tide; eskaleret til team:lead"
    user = AuditEntry(
        "a-1", 2, NOW, "sara", "acknowledge", None, AlertState.ACTIVE_ACK, "on my way", {}
    )
    assert audit_note(user, DA) == "on my way"


def test_escalation_minutes_are_rounded_up() -> None:
    assert minutes_left(NOW + timedelta(minutes=3, seconds=10), NOW) == 4
    assert minutes_left(NOW + timedelta(minutes=4), NOW) == 4
    assert minutes_left(NOW - timedelta(seconds=1), NOW) == 0


def test_every_glucose_type_and_secondary_codes_are_matched() -> None:
    keys = {v.key for v in VITALS}
    assert {
        "glucose_capillary_whole_blood",
        "glucose_interstitial",
        "glucose_venous_plasma",
    } <= keys
    assert "glucose_control_solution" not in keys  # a meter check, not the resident
    spo2 = next(v for v in VITALS if v.key == "spo2")
    assert "2708-6" in spo2.codes  # LOINC: a vendor may send it first
    cgm = next(v for v in VITALS if v.key == "glucose_interstitial")
    assert "2339-0" not in cgm.codes  # LOINC for any blood glucose: not one type's
    samples = {
        "2708-6": Sample(NOW, 91, "%", "2708-6", "o-1", "d-1", "r-1"),
        "160212": Sample(NOW, 5.2, "mmol/L", "160212", "o-2", "d-1", "r-1"),
    }
    shown = {v.vital.key: v.sample.value for v in latest_values(samples, NOW)}
    assert shown == {"spo2": 91, "glucose_interstitial": 5.2}


def test_out_of_range_uses_the_rules_in_their_unit_and_the_most_severe() -> None:
    temp = next(v for v in VITALS if v.key == "body_temperature")
    hot = Sample(NOW, 104.0, "[degF]", temp.code, "o-1", "d-1", "r-1")  # 40 °C
    beyond = out_of_range(temp, hot, RULES)
    assert beyond is not None
    assert beyond.id == "fever-high"
    assert out_of_range(temp, Sample(NOW, 37.0, "Cel", temp.code, "o", "d", "r"), RULES) is None
    assert [t.label for t in thresholds_for(temp, RULES, "da")] == [">= 38,5", ">= 39,5"]
    assert out_of_range(temp, hot, None) is None


def test_rule_summaries_need_language_codes() -> None:
    with pytest.raises(RulesConfigError, match="summaries"):
        parse_rules(
            '[[rule]]\nid = "f"\nkind = "event"\nmeasure = "fall"\nsummaries = { Danish = "x" }\n'
        )


@pytest.mark.asyncio
async def test_alerts_api_carries_trigger_and_acknowledgement(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.store("spo2", "88", T0 - timedelta(minutes=2), device="dev-oxi")
    client, csrf = await signed_in("sara")
    [alert] = (await client.get("/api/v1/alerts")).json()
    assert alert["trigger"]["value"] == 88
    assert alert["trigger"]["unit"] == "%"
    assert alert["trigger"]["time"].startswith("2026-11-30T07:58:00")
    assert alert["acknowledged"] is None
    reply = await client.post(
        f"/api/v1/alerts/{alert['id']}/ack",
        json={"note": "kommer nu"},
        headers={"X-CSRF-Token": csrf},
    )
    assert reply.status_code == 200, reply.text
    acked = reply.json()["acknowledged"]
    assert (acked["by"], acked["note"]) == ("sara", "kommer nu")
