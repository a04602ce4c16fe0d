"""Issue 15, finding 2: cross-organisation writes by an administrator.

A real hub (SQLite file, registry, alert engine, the whole dashboard app with its CSRF
middleware) with two organisations, each with a team, home, resident, devices and an
administrator; requests over HTTP with each user's own session and CSRF token. Organisation
B's administrator (``bodil``) attacks organisation A's objects; ``root`` is a system
administrator (no organisation); ``ida`` is A's administrator.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from foundation.clock import ManualClock
from hjem.cli import main
from hub.alerts.silences import MIGRATIONS as SILENCE_MIGRATIONS
from hub.alerts.store import MIGRATIONS, AlertStore
from hub.auth import Role, UserStore, fast_hasher
from hub.db import migrate, open_db, to_micros
from hub.web.queries import admin_actions
from tests.hub.web.conftest import new_client, sign_in
from tests.support.browser import PASSWORD, T0, FastWorld

Login = Callable[[str], Awaitable[tuple[httpx.AsyncClient, str]]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FastWorld]:
    built = FastWorld(tmp_path)
    built.users.create_user("bodil", PASSWORD, Role.ADMIN, "org-b", display_name="Bodil B")
    built.users.create_user("root", PASSWORD, Role.ADMIN, None, display_name="System")
    try:
        yield built
    finally:
        built.close()


@pytest_asyncio.fixture
async def login(world: FastWorld) -> AsyncIterator[Login]:
    clients: list[httpx.AsyncClient] = []

    async def make(username: str) -> tuple[httpx.AsyncClient, str]:
        client = new_client(world)
        clients.append(client)
        return client, await sign_in(client, username)

    yield make
    for client in clients:
        await client.aclose()


def description(world: FastWorld, device: str) -> str:
    row = world.hub.conn.execute("SELECT description FROM device WHERE id = ?", (device,))
    return str(row.fetchone()[0])


def spo2_alert(world: FastWorld) -> list[str]:
    """Anna's (organisation A's) pulse oximeter reads 80 %: the ids of her open alerts."""
    world.store("spo2", "80", world.clock.now(), device="dev-oxi")
    rows = world.alerts.engine.store.find(organisations=["org-a"])
    return [r.id for r in rows if r.rule == "spo2-low" and r.is_open]


def silence_body(**fields: str) -> dict[str, str]:
    ends = (T0 + timedelta(days=2)).isoformat()
    return {"reason": "vedligehold", "ends": ends, **fields}


@pytest.mark.asyncio
async def test_admin_cannot_rename_another_organisations_device(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf = await login("bodil")
    renamed = await bodil.post(
        "/admin/devices", data={"device_id": "dev-oxi", "description": "Køkken", "csrf_token": csrf}
    )
    assert renamed.status_code == 404
    assert description(world, "dev-oxi") == "Pulsoximeter"
    # a device A's gateway heard first (never assigned) is A's as well
    world.hub.registry.note_devices({"dev-heard": "gw-a"}, T0)
    heard = await bodil.post(
        "/admin/devices", data={"device_id": "dev-heard", "description": "x", "csrf_token": csrf}
    )
    assert heard.status_code == 404
    # a new device, an unclaimed one and B's own may be saved
    for device in ("dev-new", "dev-bent"):
        saved = await bodil.post(
            "/admin/devices", data={"device_id": device, "description": "Stue", "csrf_token": csrf}
        )
        assert saved.status_code == 303, device
        assert description(world, device) == "Stue"
    listed = (await bodil.get("/admin")).text
    assert "dev-oxi" not in listed
    assert "dev-heard" not in listed
    assert "dev-bent" in listed


@pytest.mark.asyncio
async def test_admin_cannot_move_another_organisations_device(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf = await login("bodil")
    moved = await bodil.post(
        "/admin/devices/dev-oxi/assign",
        data={"resident_id": "r-bent", "start": "2026-11-30T09:30", "csrf_token": csrf},
    )
    assert moved.status_code == 404
    later = world.clock.set(T0 + timedelta(minutes=40))
    assert world.hub.registry.resolve("dev-oxi", later) == "r-anna"
    # B cannot read A's readings through the device either
    world.store("spo2", "97", later, device="dev-oxi")
    series = await bodil.get("/api/v1/residents/r-bent/series", params={"measure": "spo2"})
    assert "97" not in series.text


@pytest.mark.asyncio
async def test_admin_cannot_unassign_another_organisations_device(
    world: FastWorld, login: Login
) -> None:
    # assigned to A's resident but first heard by B's gateway: the assignment decides
    world.hub.registry.note_devices({"dev-moved": "gw-b"}, T0 - timedelta(days=9))
    world.hub.registry.assign("dev-moved", "r-anna", T0 - timedelta(days=1))
    bodil, csrf = await login("bodil")
    for path in ("/admin/devices/dev-moved", "/admin/devices/dev-oxi"):
        assert (await bodil.get(path)).status_code == 404, path
    ended = await bodil.post("/admin/devices/dev-moved/unassign", data={"csrf_token": csrf})
    assert ended.status_code == 404
    assert world.hub.registry.resolve("dev-moved", T0 + timedelta(hours=1)) == "r-anna"
    ida, _ = await login("ida")
    assert (await ida.get("/admin/devices/dev-moved")).status_code == 200


@pytest.mark.asyncio
async def test_silence_of_one_organisation_does_not_silence_another(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf = await login("bodil")
    headers = {"X-CSRF-Token": csrf}
    by_rule = await bodil.post(
        "/api/v1/alerts/silences", json=silence_body(rule="spo2-low"), headers=headers
    )
    catch_all = await bodil.post("/api/v1/alerts/silences", json=silence_body(), headers=headers)
    assert (by_rule.status_code, catch_all.status_code) == (201, 201)
    assert spo2_alert(world), "A's critical alert was silenced by B's administrator"
    # B's silence still works for B: Bent's fever raises nothing
    world.store("body_temperature", "39.6", world.clock.now(), device="dev-bent")
    assert world.alerts.engine.store.find(organisations=["org-b"]) == []


@pytest.mark.asyncio
async def test_silences_are_listed_and_ended_only_within_the_organisation(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf_b = await login("bodil")
    ida, csrf_a = await login("ida")
    made = await bodil.post(
        "/api/v1/alerts/silences", json=silence_body(), headers={"X-CSRF-Token": csrf_b}
    )
    silence = made.json()["id"]
    assert (await ida.get("/api/v1/alerts/silences")).json() == []
    mine = (await bodil.get("/api/v1/alerts/silences")).json()
    assert [(s["id"], s["organisation"]) for s in mine] == [(silence, "org-b")]
    refused = await ida.delete(
        f"/api/v1/alerts/silences/{silence}", headers={"X-CSRF-Token": csrf_a}
    )
    assert refused.status_code == 404
    assert [s.id for s in world.alerts.engine.store.silences(world.clock.now())] == [silence]
    ended = await bodil.delete(
        f"/api/v1/alerts/silences/{silence}", headers={"X-CSRF-Token": csrf_b}
    )
    assert ended.status_code == 204
    assert world.alerts.engine.store.silences(world.clock.now()) == []
    audit = (await bodil.get("/audit")).text
    assert "Tavshed oprettet" in audit
    assert "Tavshed afsluttet" in audit
    assert silence in audit
    assert silence not in (await ida.get("/audit")).text


@pytest.mark.asyncio
async def test_system_admin_silence_is_global(world: FastWorld, login: Login) -> None:
    root, csrf = await login("root")
    made = await root.post(
        "/api/v1/alerts/silences",
        json=silence_body(rule="spo2-low"),
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201
    assert spo2_alert(world) == []


@pytest.mark.asyncio
async def test_alerts_of_another_organisation_cannot_be_handled(
    world: FastWorld, login: Login
) -> None:
    [alert] = spo2_alert(world)
    bodil, csrf = await login("bodil")
    for action in ("ack", "resolve"):
        page = await bodil.post(f"/alerts/{alert}/{action}", data={"note": "x", "csrf_token": csrf})
        assert page.status_code == 404, action
        api = await bodil.post(
            f"/api/v1/alerts/{alert}/{action}", json={"note": "x"}, headers={"X-CSRF-Token": csrf}
        )
        assert api.status_code == 404, action
    assert world.alerts.engine.store.get(alert).state.value == "ACTIVE_UNACK"


@pytest.mark.asyncio
async def test_user_with_another_organisations_team_is_refused(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf = await login("bodil")
    form = {
        "username": "spion",
        "password": "lang-nok-kode-1",
        "role": "care_staff",
        "team": "team-a",
        "csrf_token": csrf,
    }
    refused = await bodil.post("/admin/users", data=form)
    assert refused.status_code == 404
    assert world.users.check_password("spion", "lang-nok-kode-1") is None
    made = await bodil.post("/admin/users", data={**form, "team": "team-b"})
    assert made.status_code == 200
    user = world.users.check_password("spion", "lang-nok-kode-1")
    assert user is not None
    assert (user.organisation, user.teams) == ("org-b", ("team-b",))


@pytest.mark.asyncio
async def test_system_admin_change_appears_in_the_affected_organisations_audit(
    world: FastWorld, login: Login
) -> None:
    root, csrf = await login("root")
    moved = await root.post(
        "/admin/devices/dev-oxi/assign",
        data={"resident_id": "r-bent", "start": "2026-11-30T09:30", "csrf_token": csrf},
    )
    assert moved.status_code == 200
    ida, _ = await login("ida")
    bodil, _ = await login("bodil")
    for client in (ida, bodil):
        audit = (await client.get("/audit")).text
        row = re.search(r"<tr><td>[^<]*</td><td>System</td><td>Enhed tilknyttet</td>", audit)
        assert row is not None
        assert "dev-oxi" in audit


def test_cli_actions_are_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "hub.toml"
    toml.write_text('database = "hub.sqlite3"\n', encoding="utf-8")
    config = ["--config", str(toml)]
    steps = [
        ["add-organisation", "org-c", "--name", "Odense"],
        ["add-team", "team-c", "--organisation", "org-c"],
        ["add-gateway", "gw-c", "--home", "home-c", "--team", "team-c", "--no-broker"],
        ["add-vendor", "acme", "--no-broker", "--no-token"],
        ["add-user", "carl", "--organisation", "org-c", "--team", "team-c"],
        ["assign-device", "dev-c", "--force", "--new-resident", "Carla", "--home", "home-c"],
    ]
    for step in steps:
        assert main(["admin", *step, *config]) == 0, step
    capsys.readouterr()
    refused = main(
        ["admin", "add-user", "eve", "--organisation", "org-c", "--team", "t-x", *config]
    )
    assert refused == 2
    assert "team 't-x'" in capsys.readouterr().err
    conn = open_db(tmp_path / "hub.sqlite3")
    try:
        seen = admin_actions(conn, frozenset({"org-c"}))
        every = admin_actions(conn, None)
    finally:
        conn.close()
    actor = f"cli:{getpass.getuser()}"
    assert {a.actor for a in every} == {actor}
    assert {a.action for a in seen} == {
        "organisation_added",
        "team_added",
        "gateway_added",
        "user_added",
        "resident_added",
        "device_assigned",
    }
    assert {(a.action, a.target) for a in every} >= {("vendor_added", "acme")}


@pytest.mark.asyncio
async def test_silence_for_another_organisations_resident_is_refused(
    world: FastWorld, login: Login
) -> None:
    bodil, csrf = await login("bodil")
    refused = await bodil.post(
        "/api/v1/alerts/silences",
        json=silence_body(resident="r-anna"),
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 404
    assert world.alerts.engine.store.silences(world.clock.now()) == []


def test_silences_made_before_the_upgrade_get_their_creators_organisation(
    tmp_path: Path,
) -> None:
    conn = open_db(tmp_path / "hub.sqlite3")
    try:
        users = UserStore(conn, ManualClock(T0), fast_hasher())
        users.create_user("bodil", PASSWORD, Role.ADMIN, "org-b")
        users.create_user("root", PASSWORD, Role.ADMIN, None)
        migrate(conn, "alerts", MIGRATIONS[: -len(SILENCE_MIGRATIONS)])
        for sid, by in (("s-1", "bodil"), ("s-2", "root")):
            conn.execute(
                "INSERT INTO alert_silence (id, starts_us, ends_us, reason, created_by,"
                " created_us) VALUES (?, ?, ?, 'x', ?, ?)",
                (sid, to_micros(T0), to_micros(T0 + timedelta(days=1)), by, to_micros(T0)),
            )
        found = AlertStore(conn).silences(T0)
    finally:
        conn.close()
    assert sorted((s.id, s.organisation) for s in found) == [("s-1", "org-b"), ("s-2", None)]
