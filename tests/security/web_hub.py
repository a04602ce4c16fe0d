"""A real hub for the web-auth regression tests: ``Hub`` with uvicorn on a free loopback
port, its SQLite file, the seeded world of ``tests.support.browser`` (organisations A and B,
users ``sara``, ``ida`` (admin of A) and ``bo``) and signed-in httpx clients.

The hub runs without MQTT: these findings are about its HTTP side only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from foundation.clock import utcnow
from hub.alerts.settings import AlertSettings
from hub.auth import UserStore, fast_hasher
from hub.config import HttpSettings, HubSettings, IngestSettings
from hub.service import Hub
from tests.support.browser import PASSWORD, RULES, seed_registry, seed_users

__all__ = ["PASSWORD", "csrf_of", "running_hub", "session_of", "sign_in", "url_of"]


@asynccontextmanager
async def running_hub(tmp_path: Path, **http: Any) -> AsyncIterator[Hub]:
    """A running hub on ``http://127.0.0.1:{hub.http_port}`` with the seeded world."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    settings = HubSettings(
        database=tmp_path / "hub.sqlite3",
        http=HttpSettings(host="127.0.0.1", port=0, **http),
        ingest=IngestSettings(sqlite_synchronous="normal"),
        alerts=AlertSettings(rules_file=rules, mqtt=False, stream_keepalive_seconds=0.3),
    )
    async with Hub(settings, mqtt=False) as hub:
        seed_registry(hub.registry, datetime.now(UTC))
        seed_users(UserStore(hub.conn, utcnow, fast_hasher()))
        yield hub


def url_of(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.http_port}"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]*)"', html)
    assert found, "page has no csrf-token meta tag"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    """Post the sign-in form (with its pre-session token); the answer, not followed."""
    page = await client.get("/sign-in", headers=headers)
    assert page.status_code == 200, page.text
    return await client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        headers=headers,
    )


def session_of(reply: httpx.Response) -> str:
    """The session id a successful sign-in answer sets."""
    assert reply.status_code == 303, reply.text
    for cookie in reply.headers.get_list("set-cookie"):
        if cookie.startswith("hjem_session="):
            return cookie.split(";")[0].split("=", 1)[1]
    raise AssertionError("no hjem_session cookie set")
