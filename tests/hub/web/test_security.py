"""Sign-in, cookies, CSRF, throttling, organisation isolation and escaping, over HTTP."""

from __future__ import annotations

import pytest

from hub.web.csrf import csrf_token
from tests.hub.web.conftest import SignedIn, csrf_of, new_client, sign_in
from tests.support.browser import EVIL_NAME, T0, FastWorld

pytestmark = pytest.mark.asyncio


async def test_signed_out_pages_redirect_to_sign_in_and_api_says_401(world: FastWorld) -> None:
    async with new_client(world) as client:
        for path in ("/board", "/residents/r-anna", "/homes", "/audit", "/admin"):
            reply = await client.get(path)
            assert reply.status_code == 303, path
            assert reply.headers["location"].startswith("/sign-in?next=" + path.split("?")[0])
        api = await client.get("/api/v1/residents")
        assert api.status_code == 401
        client.cookies.set("hjem_session", "not-a-session")
        stale = await client.get("/board")
        assert stale.status_code == 303


async def test_sign_in_sets_strict_cookie_and_sign_out_ends_session(world: FastWorld) -> None:
    async with new_client(world) as client:
        page = await client.get("/sign-in?next=/homes")
        assert "hjem_csrf=" in page.headers["set-cookie"]
        reply = await client.post(
            "/sign-in",
            data={
                "username": "sara",
                "password": "korrekt-hest-batteri",
                "csrf_token": csrf_of(page.text),
                "next": "/homes",
            },
        )
        assert reply.status_code == 303
        assert reply.headers["location"] == "/homes"
        cookie = next(
            c for c in reply.headers.get_list("set-cookie") if c.startswith("hjem_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain http here
        board = await client.get("/board")
        assert board.status_code == 200
        out = await client.post("/sign-out", data={"csrf_token": csrf_of(board.text)})
        assert out.status_code == 303
        assert (await client.get("/board")).status_code == 303
        session = cookie.split(";")[0].split("=", 1)[1]
        assert world.users.user_for_session(session) is None


async def test_cookie_is_secure_over_https(world: FastWorld) -> None:
    async with new_client(world, "https://hub.example") as client:
        page = await client.get("/sign-in")
        reply = await client.post(
            "/sign-in",
            data={
                "username": "sara",
                "password": "korrekt-hest-batteri",
                "csrf_token": csrf_of(page.text),
            },
        )
        cookies = reply.headers.get_list("set-cookie")
        assert any(c.startswith("hjem_session=") and "Secure" in c for c in cookies)


async def test_wrong_password_then_throttled(world: FastWorld) -> None:
    async with new_client(world) as client:
        page = await client.get("/sign-in")
        token = csrf_of(page.text)
        for _ in range(6):  # five free failures, then this browser's address waits
            wrong = await client.post(
                "/sign-in",
                data={"username": "sara", "password": "nope-nope-nope", "csrf_token": token},
            )
            assert wrong.status_code == 401
            assert "Forkert brugernavn eller adgangskode" in wrong.text
        throttled = await client.post(
            "/sign-in",
            data={"username": "sara", "password": "korrekt-hest-batteri", "csrf_token": token},
        )
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        world.clock.advance(16 * 60)
        assert (
            await client.post(
                "/sign-in",
                data={"username": "sara", "password": "korrekt-hest-batteri", "csrf_token": token},
            )
        ).status_code == 303


async def test_sign_in_needs_its_csrf_token(world: FastWorld) -> None:
    async with new_client(world) as client:
        no_cookie = await client.post(
            "/sign-in", data={"username": "sara", "password": "korrekt-hest-batteri"}
        )
        assert no_cookie.status_code == 403
        await client.get("/sign-in")
        wrong = await client.post(
            "/sign-in",
            data={"username": "sara", "password": "korrekt-hest-batteri", "csrf_token": "0" * 64},
        )
        assert wrong.status_code == 403


async def test_state_changes_need_the_sessions_csrf_token(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.store("body_temperature", "39.4", T0)
    [alert] = world.alerts.engine.store.open_alerts()
    client, csrf = await signed_in("sara")
    _, other_csrf = await signed_in("ida")
    assert other_csrf != csrf
    missing = await client.post(f"/alerts/{alert.id}/ack", data={"note": "x"})
    wrong = await client.post(
        f"/alerts/{alert.id}/ack", data={"note": "x", "csrf_token": other_csrf}
    )
    header_wrong = await client.post(f"/alerts/{alert.id}/ack", headers={"X-CSRF-Token": "abc"})
    api_missing = await client.post(f"/api/v1/alerts/{alert.id}/ack", json={"note": "x"})
    assert [r.status_code for r in (missing, wrong, header_wrong, api_missing)] == [403] * 4
    assert world.alerts.engine.store.get(alert.id).state.value == "ACTIVE_UNACK"
    by_header = await client.post(
        f"/api/v1/alerts/{alert.id}/ack", json={"note": "on my way"}, headers={"X-CSRF-Token": csrf}
    )
    assert by_header.status_code == 200
    assert by_header.json()["state"] == "ACTIVE_ACK"


async def test_bearer_token_requests_need_no_csrf_token(world: FastWorld) -> None:
    world.store("body_temperature", "39.4", T0)
    [alert] = world.alerts.engine.store.open_alerts()
    sara = world.users.check_password("sara", "korrekt-hest-batteri")
    assert sara is not None
    token = world.users.issue_token(sara.id, "integration")
    async with new_client(world) as client:
        headers = {"Authorization": f"Bearer {token}"}
        residents = await client.get("/api/v1/residents", headers=headers)
        assert [r["id"] for r in residents.json()] == ["r-anna"]
        acked = await client.post(f"/api/v1/alerts/{alert.id}/ack", json={}, headers=headers)
        assert acked.status_code == 200


async def test_csrf_token_is_bound_to_its_cookie_and_the_hubs_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    assert csrf_token(key, "a") == csrf_token(key, "a")
    assert csrf_token(key, "a") != csrf_token(key, "b")
    assert csrf_token(key, "a") != csrf_token(other, "a")
    assert len(csrf_token(key, "a")) == 64


async def test_staff_cannot_see_another_organisations_resident(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.store("body_temperature", "39.4", T0)
    world.store("body_temperature", "36.9", T0, device="dev-bent")
    [alert] = world.alerts.engine.store.open_alerts()
    bo, bo_csrf = await signed_in("bo")
    assert (await bo.get("/residents/r-anna")).status_code == 404
    ack = await bo.post(f"/alerts/{alert.id}/ack", data={"csrf_token": bo_csrf})
    api_ack = await bo.post(
        f"/api/v1/alerts/{alert.id}/ack", json={}, headers={"X-CSRF-Token": bo_csrf}
    )
    assert (ack.status_code, api_ack.status_code) == (404, 404)
    assert world.alerts.engine.store.get(alert.id).state.value == "ACTIVE_UNACK"
    assert (await bo.get("/residents/r-bent")).status_code == 200
    assert (await bo.get(f"/alerts/{alert.id}")).status_code == 404
    assert (await bo.get("/api/v1/residents/r-anna")).status_code == 404
    assert (
        await bo.get("/api/v1/residents/r-anna/series?measure=body_temperature")
    ).status_code == 404
    listing = await bo.get("/residents")
    assert "Bent Hansen" in listing.text
    assert "Anna Jensen" not in listing.text
    board = await bo.get("/board")
    assert alert.id not in board.text
    homes = await bo.get("/homes")
    assert "Solsikkevej" not in homes.text
    assert "Strandvejen 12" in homes.text
    audit = await bo.get("/audit")
    assert "Feber" not in audit.text


async def test_staff_are_not_administrators(signed_in: SignedIn) -> None:
    sara, csrf = await signed_in("sara")
    assert (await sara.get("/admin")).status_code == 403
    refused = await sara.post(
        "/admin/devices", data={"device_id": "x", "description": "y", "csrf_token": csrf}
    )
    assert refused.status_code == 403


async def test_device_name_with_script_is_shown_as_text(
    world: FastWorld, signed_in: SignedIn
) -> None:
    world.gateway()
    ida, _ = await signed_in("ida")
    for path in ("/homes", "/residents/r-anna", "/admin", "/admin/devices/dev-thermo"):
        page = await ida.get(path)
        assert page.status_code == 200
        assert EVIL_NAME not in page.text, path
        assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt; Termometer" in page.text


async def test_next_after_sign_in_stays_on_this_site(world: FastWorld) -> None:
    async with new_client(world) as client:
        page = await client.get("/sign-in")
        reply = await client.post(
            "/sign-in",
            data={
                "username": "sara",
                "password": "korrekt-hest-batteri",
                "csrf_token": csrf_of(page.text),
                "next": "//evil.example/",
            },
        )
        assert reply.headers["location"] == "/board"


async def test_signing_in_again_replaces_the_session(world: FastWorld) -> None:
    async with new_client(world) as client:
        await sign_in(client, "sara")
        first = client.cookies.get("hjem_session")
        assert first is not None
        again = await client.get("/sign-in?next=/homes")
        assert again.status_code == 303  # already signed in
        assert again.headers["location"] == "/homes"
        client.cookies.set("hjem_csrf", "pre-session-value")
        page = await client.get("/sign-in")
        assert page.status_code == 303
        # a second sign-in from the same browser (e.g. another user at a shared PC)
        reply = await client.post(
            "/sign-in",
            data={
                "username": "ida",
                "password": "korrekt-hest-batteri",
                "csrf_token": csrf_token(world.users.csrf_key, first),
            },
        )
        assert reply.status_code == 303
        assert world.users.user_for_session(first) is None
        second = client.cookies.get("hjem_session")
        assert second is not None
        assert second != first
        user = world.users.user_for_session(second)
        assert user is not None
        assert user.username == "ida"


async def test_pages_send_a_strict_content_security_policy(signed_in: SignedIn) -> None:
    client, _ = await signed_in("sara")
    for path in ("/board", "/residents/r-anna", "/homes", "/audit"):
        reply = await client.get(path)
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in reply.text  # no inline script for the policy to allow
