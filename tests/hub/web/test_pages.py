"""The pages over HTTP: board order, acknowledge/resolve with a note, audit, history,
resident charts, homes, administration (device assignment over time), OpenAPI."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from hub.store.base import StoredObservation
from tests.hub.web.conftest import SignedIn
from tests.support.browser import T0, FastWorld, observation

pytestmark = pytest.mark.asyncio


def stored(at: datetime, value: str) -> StoredObservation:
    obs = observation("body_temperature", value, at, "dev-thermo", "gw-a")
    return StoredObservation(obs, "gw-a", "r-anna", at)


def ids_in_order(html: str) -> list[str]:
    return re.findall(r'data-alert-id="([^"]+)"', html)


async def test_board_orders_by_severity_then_age(world: FastWorld, signed_in: SignedIn) -> None:
    world.store("body_temperature", "39.4", T0)  # high, oldest
    world.clock.advance(60)
    world.store("spo2", "89", world.clock.now(), device="dev-oxi")  # critical, newer
    world.clock.advance(60)
    rows = {a.rule: a.id for a in world.alerts.engine.store.open_alerts()}
    client, _ = await signed_in("sara")
    board = await client.get("/board")
    assert ids_in_order(board.text) == [rows["spo2-low"], rows["fever"]]
    assert "data-open-count>2<" in board.text
    fragment = await client.get("/board/fragment")
    assert ids_in_order(fragment.text) == [rows["spo2-low"], rows["fever"]]
    assert "<html" not in fragment.text
    # escalation countdown: the first deadline is 10 minutes after opening
    deadline = re.search(r'data-deadline="([^"]+)"', board.text)
    assert deadline is not None
    assert deadline.group(1).startswith("2026-11-30T08:11:00")


async def test_acknowledge_then_resolve_with_note_and_audit(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.store("body_temperature", "39.4", T0)
    [alert] = world.alerts.engine.store.open_alerts()
    client, csrf = await signed_in("sara")
    acked = await client.post(
        f"/alerts/{alert.id}/ack",
        data={"note": "Ringer til borgeren", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert acked.status_code == 200
    assert acked.json() == {"id": alert.id, "state": "ACTIVE_ACK"}
    again = await client.post(
        f"/alerts/{alert.id}/ack", data={"csrf_token": csrf}, headers={"Accept": "application/json"}
    )
    assert again.status_code == 409
    no_note = await client.post(
        f"/alerts/{alert.id}/resolve",
        data={"note": " ", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert no_note.status_code == 422
    assert "note" in no_note.json()["message"].lower()
    resolved = await client.post(
        f"/alerts/{alert.id}/resolve", data={"note": "Feber faldet", "csrf_token": csrf}
    )
    assert resolved.status_code == 303  # a plain form goes back to the board
    assert world.alerts.engine.store.get(alert.id).state.value == "CLEARED_ACK"
    board = await client.get("/board")
    assert alert.id not in board.text
    history = await client.get("/alerts/history")
    assert alert.id in history.text
    assert re.findall(r'<td class="actor">([^<]+)</td>', history.text) == ["Sara Nielsen"]
    assert "Feber faldet" in history.text
    detail = await client.get(f"/alerts/{alert.id}")
    assert "Sara Nielsen" in detail.text
    assert "Ringer til borgeren" in detail.text
    assert "Feber faldet" in detail.text
    audit = await client.get("/audit")
    rows = re.findall(r'<td class="actor">([^<]+)</td>', audit.text)
    assert rows[:2] == ["Sara Nielsen", "Sara Nielsen"]
    assert "Kvitteret" in audit.text
    assert "Afsluttet" in audit.text


async def test_resident_page_draws_charts_with_points_and_thresholds(
    world: FastWorld, signed_in: SignedIn
) -> None:
    for i in range(12):
        world.store("body_temperature", f"{36.6 + i / 20:.2f}", T0 - timedelta(hours=12 - i))
    for day in range(1, 6):
        world.store("body_temperature", "37.0", T0 - timedelta(days=day, hours=1))
    client, _ = await signed_in("sara")
    day = await client.get("/residents/r-anna")
    assert day.status_code == 200
    svg = re.search(r"<svg[^>]*aria-label=\"Temperatur\".*?</svg>", day.text, re.S)
    assert svg is not None
    assert svg.group(0).count('class="pt"') == 12
    assert "&gt; 38,5" in svg.group(0)  # the fever threshold line, Danish decimal comma
    week = await client.get("/residents/r-anna?range=7d")
    svg7 = re.search(r"<svg[^>]*aria-label=\"Temperatur\".*?</svg>", week.text, re.S)
    assert svg7 is not None
    assert svg7.group(0).count('class="pt"') == 12 + 5  # hourly buckets
    assert 'class="band"' in svg7.group(0)
    bad = await client.get("/residents/r-anna?range=1y")
    assert bad.status_code == 422


async def test_dense_data_is_drawn_as_five_minute_buckets(
    world: FastWorld, signed_in: SignedIn
) -> None:
    start = T0 - timedelta(hours=20)
    world.hub.store.write(  # every two minutes for 20 hours
        [stored(start + timedelta(minutes=2 * i), f"{36.5 + (i % 7) / 10:.1f}") for i in range(600)]
    )
    client, _ = await signed_in("sara")
    page = await client.get("/residents/r-anna")
    svg = re.search(r"<svg[^>]*aria-label=\"Temperatur\".*?</svg>", page.text, re.S)
    assert svg is not None
    assert svg.group(0).count('class="pt"') == 240  # 20 h of 5-minute buckets
    assert 'class="band"' in svg.group(0)
    assert "240 intervaller à 5 min" in page.text


async def test_residents_overview_shows_latest_and_news2(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.store("spo2", "91", T0, device="dev-oxi")  # 3 points
    world.store("body_temperature", "38.6", T0)  # 1 point
    client, _ = await signed_in("sara")
    page = await client.get("/residents")
    assert "Anna Jensen" in page.text
    assert 'class="news risk-low-medium"' in page.text
    assert ">4<" in page.text
    assert "38,6" in page.text  # Danish decimal comma
    series = await client.get("/api/v1/residents/r-anna/series?measure=spo2")
    assert series.json()["points"][0]["value"] == 91.0


async def test_homes_show_gateway_and_sensor_health(world: FastWorld, signed_in: SignedIn) -> None:
    world.gateway()
    client, _ = await signed_in("sara")
    page = await client.get("/homes")
    assert "gw-a" in page.text
    assert "Online" in page.text
    assert "-67 dBm" in page.text
    assert 'class="battery low"' in page.text  # the oximeter at 12 %
    health = (await client.get("/api/v1/homes")).json()
    [home] = health
    [gateway] = home["gateways"]
    assert gateway["online"] is True
    assert gateway["outbox_depth"] == 3
    assert {s["id"]: s["battery_percent"] for s in gateway["sensors"]} == {
        "dev-thermo": 81,
        "dev-oxi": 12,
    }


async def test_admin_assigns_a_device_over_time_and_it_is_audited(
    world: FastWorld, signed_in: SignedIn
) -> None:
    ida, csrf = await signed_in("ida")
    added = await ida.post(
        "/admin/devices", data={"device_id": "dev-scale", "description": "Vægt", "csrf_token": csrf}
    )
    assert added.status_code == 303
    assert added.headers["location"] == "/admin/devices/dev-scale"
    assigned = await ida.post(
        "/admin/devices/dev-scale/assign",
        data={"resident_id": "r-anna", "start": "2026-11-30T09:30", "csrf_token": csrf},
    )
    assert assigned.status_code == 200
    assert "Anna Jensen" in assigned.text
    assert world.hub.registry.resolve("dev-scale", T0 + timedelta(minutes=31)) == "r-anna"
    assert world.hub.registry.resolve("dev-scale", T0 + timedelta(minutes=29)) is None
    other_org = await ida.post(
        "/admin/devices/dev-scale/assign",
        data={"resident_id": "r-bent", "start": "2026-11-30T10:00", "csrf_token": csrf},
    )
    assert other_org.status_code == 404
    bad_time = await ida.post(
        "/admin/devices/dev-scale/assign",
        data={"resident_id": "r-anna", "start": "tomorrow", "csrf_token": csrf},
    )
    assert bad_time.status_code == 400
    audit = await ida.get("/audit")
    assert "Enhed tilknyttet" in audit.text
    assert "dev-scale" in audit.text
    with pytest.raises(Exception, match="append-only"):
        world.hub.conn.execute("DELETE FROM web_admin_audit")


async def test_admin_adds_resident_user_and_api_token(
    world: FastWorld, signed_in: SignedIn
) -> None:
    ida, csrf = await signed_in("ida")
    made = await ida.post(
        "/admin/residents", data={"name": "Carl Madsen", "home_id": "home-a", "csrf_token": csrf}
    )
    assert "Carl Madsen" in made.text
    user = await ida.post(
        "/admin/users",
        data={"username": "nina", "password": "short", "role": "care_staff", "csrf_token": csrf},
    )
    assert user.status_code == 400
    user = await ida.post(
        "/admin/users",
        data={
            "username": "nina",
            "password": "lang-nok-kode",
            "role": "care_staff",
            "csrf_token": csrf,
        },
    )
    assert user.status_code == 200
    assert world.users.check_password("nina", "lang-nok-kode") is not None
    token_page = await ida.post("/admin/tokens", data={"name": "EPJ", "csrf_token": csrf})
    token = re.search(r'<code id="new-token">([^<]+)</code>', token_page.text)
    assert token is not None
    assert world.users.user_for_token(token.group(1)) is not None


async def test_openapi_documents_the_dashboard_api(world: FastWorld, signed_in: SignedIn) -> None:
    client, _ = await signed_in("sara")
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/residents",
        "/api/v1/residents/{resident_id}",
        "/api/v1/residents/{resident_id}/series",
        "/api/v1/homes",
        "/api/v1/alerts",
    ):
        assert path in paths, path
    assert paths["/api/v1/homes"]["get"]["summary"] == "Homes with gateway and sensor health"
    assert "ResidentSummary" in spec["components"]["schemas"]
    assert "/board" not in paths  # pages are not API
    del world


async def test_static_files_are_served_and_nothing_else(signed_in: SignedIn) -> None:
    client, _ = await signed_in("sara")
    css = await client.get("/static/hjem.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/..%2Fsite.py")).status_code == 404
    assert (await client.get("/static/site.py")).status_code == 404


async def test_admin_sets_the_spo2_scale_of_own_residents_only_and_it_is_audited(
    world: FastWorld, signed_in: SignedIn
) -> None:
    """Issue 14: scale 2 is prescribed per resident, checked by organisation, audited."""
    ida, csrf = await signed_in("ida")
    page = await ida.get("/admin")
    assert 'action="/admin/residents/r-anna/spo2-scale"' in page.text
    assert "r-bent/spo2-scale" not in page.text
    done = await ida.post(
        "/admin/residents/r-anna/spo2-scale", data={"scale": "2", "csrf_token": csrf}
    )
    assert done.status_code == 200
    assert world.hub.registry.spo2_scale("r-anna") == 2
    assert re.search(r'<option value="2" selected>', done.text)
    other_org = await ida.post(
        "/admin/residents/r-bent/spo2-scale", data={"scale": "2", "csrf_token": csrf}
    )
    assert other_org.status_code == 404
    assert world.hub.registry.spo2_scale("r-bent") == 1
    bad = await ida.post(
        "/admin/residents/r-anna/spo2-scale", data={"scale": "3", "csrf_token": csrf}
    )
    assert bad.status_code == 422
    no_csrf = await ida.post("/admin/residents/r-anna/spo2-scale", data={"scale": "1"})
    assert no_csrf.status_code in {400, 403}
    assert world.hub.registry.spo2_scale("r-anna") == 2
    audit = await ida.get("/audit")
    assert "SpO2-skala (NEWS2) ændret" in audit.text
    assert "r-anna" in audit.text
