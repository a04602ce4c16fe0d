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

from pathlib import Path

import httpx
import pytest

from tests.security.web_hub import PASSWORD, running_hub, session_of, sign_in, url_of

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
