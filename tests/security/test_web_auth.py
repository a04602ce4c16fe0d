"""Findings 8 and 9 (issue 15): sign-in throttling and what ends a session or a token.

8. Five wrong passwords locked a named user out from every address for 15 minutes, and
   uvicorn believed ``X-Forwarded-For`` from loopback, so rotating it reset the per-address
   limit. Now the (user, address) pair waits ever longer and forwarded headers count only
   from configured proxies.
9. A password change left existing sessions valid; an open alert stream kept delivering
   after sign-out; API tokens could not be revoked or given an expiry in the admin page.

Against a real hub (uvicorn on a loopback port). A second client address is 127.0.0.2
(the loopback network), still talking to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from hub.auth import Role
from tests.security.web_hub import PASSWORD, csrf_of, running_hub, session_of, sign_in, url_of

pytestmark = pytest.mark.asyncio


def _client(url: str, source: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=url, transport=transport)


async def test_a_user_locked_out_from_one_address_signs_in_from_another(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        async with _client(url_of(hub), "127.0.0.1") as attacker:
            answers = [
                (await sign_in(attacker, "sara", "wrong-guess-x")).status_code for _ in range(7)
            ]
            assert answers[:5] == [401] * 5
            assert answers[-1] == 429  # the pair waits now
        async with _client(url_of(hub), "127.0.0.2") as sara:
            assert session_of(await sign_in(sara, "sara", PASSWORD))


async def test_rotating_x_forwarded_for_does_not_reset_the_limits(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, _client(url_of(hub)) as client:
        statuses = []
        for i in range(24):  # many user names: only the per-address limit can stop this
            forged = {"X-Forwarded-For": f"198.51.100.{i + 1}"}
            reply = await sign_in(client, f"guess{i}", "wrong-guess-x", **forged)
            statuses.append(reply.status_code)
        assert statuses[:20] == [401] * 20
        assert set(statuses[20:]) == {429}
        rows = hub.conn.execute("SELECT COUNT(*) FROM auth_session").fetchone()
        assert rows[0] == 0
    async with running_hub(tmp_path / "again") as hub, _client(url_of(hub)) as client:
        statuses = []
        for i in range(8):  # one user, a new forwarded address each time
            forged = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
            statuses.append((await sign_in(client, "sara", "wrong-guess-x", **forged)).status_code)
        assert 429 in statuses


async def _signed_in(
    stack: AsyncExitStack, url: str, username: str = "sara"
) -> tuple[httpx.AsyncClient, str]:
    client = await stack.enter_async_context(_client(url))
    session = session_of(await sign_in(client, username))
    client.cookies.set("hjem_session", session)
    return client, session


async def test_a_password_change_ends_the_other_sessions(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        assert hub.auth is not None
        async with AsyncExitStack() as stack:
            here, kept = await _signed_in(stack, url_of(hub))
            elsewhere, _ = await _signed_in(stack, url_of(hub))
            sara = hub.auth.users.user_for_session(kept)
            assert sara is not None
            assert (await elsewhere.get("/api/v1/residents")).status_code == 200
            hub.auth.users.set_password(sara.id, "Ny-og-bedre-kode-2026", keep_session=kept)
            assert (await elsewhere.get("/api/v1/residents")).status_code == 401
            assert (await elsewhere.get("/board")).status_code == 303
            assert (await here.get("/board")).status_code == 200
            hub.auth.users.set_password(sara.id, "Endnu-en-ny-kode-2027")
            assert (await here.get("/board")).status_code == 303


async def test_the_alert_stream_closes_after_sign_out(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        client, _ = await _signed_in(stack, url_of(hub))
        async with client.stream("GET", "/api/v1/alerts/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["cache-control"] == "no-store"
            lines = stream.aiter_lines()
            assert await anext(lines) == ": subscribed"
            board = await client.get("/board")
            csrf = board.text.split('name="csrf-token" content="')[1].split('"')[0]
            out = await client.post("/sign-out", data={"csrf_token": csrf})
            assert out.status_code == 303

            async def drain() -> list[str]:
                return [line async for line in lines]

            rest = await asyncio.wait_for(drain(), 5)  # the stream ends by itself
            assert not any(line.startswith("event: alert") for line in rest)


async def test_api_tokens_are_listed_expire_and_are_revoked_in_the_admin_page(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path) as hub:
        assert hub.auth is not None
        users = hub.auth.users
        users.create_user("bjarke", PASSWORD, Role.ADMIN, "org-b")
        async with AsyncExitStack() as stack:
            ida, _ = await _signed_in(stack, url_of(hub), "ida")
            bjarke, _ = await _signed_in(stack, url_of(hub), "bjarke")
            admin = await ida.get("/admin")
            issued = await ida.post(
                "/admin/tokens",
                data={"name": "EPJ", "days": "30", "csrf_token": csrf_of(admin.text)},
            )
            assert issued.status_code == 200
            token = issued.text.split('<code id="new-token">')[1].split("<")[0]
            [info] = users.tokens(frozenset({"org-a"}))
            assert (info.name, info.username) == ("EPJ", "ida")
            assert info.expires is not None
            assert abs((info.expires - info.created).days - 30) <= 1
            assert f'data-token-id="{info.id}"' in issued.text
            bearer = {"Authorization": f"Bearer {token}"}
            async with _client(url_of(hub)) as integration:
                assert (
                    await integration.get("/api/v1/residents", headers=bearer)
                ).status_code == 200
                other = await bjarke.get("/admin")
                assert info.id not in other.text  # another organisation's admin sees nothing
                refused = await bjarke.post(
                    f"/admin/tokens/{info.id}/revoke", data={"csrf_token": csrf_of(other.text)}
                )
                assert refused.status_code == 404
                assert (
                    await integration.get("/api/v1/residents", headers=bearer)
                ).status_code == 200
                revoked = await ida.post(
                    f"/admin/tokens/{info.id}/revoke", data={"csrf_token": csrf_of(admin.text)}
                )
                assert revoked.status_code == 200
                assert (
                    await integration.get("/api/v1/residents", headers=bearer)
                ).status_code == 401
        actions = hub.conn.execute(
            "SELECT action, target FROM web_admin_audit ORDER BY seq"
        ).fetchall()
        assert [tuple(a) for a in actions if a[0].startswith("token_")] == [
            ("token_issued", "EPJ"),
            ("token_revoked", "EPJ"),
        ]
