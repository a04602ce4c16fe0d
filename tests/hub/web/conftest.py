"""Fixtures for the dashboard tests: a seeded world and signed-in HTTP clients (httpx over
ASGI, so the whole app stack runs: middleware, routes, templates, the database - SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import pytest_asyncio

from tests.support.browser import PASSWORD, FastWorld
from tests.support.hub_db import HubDatabases


@pytest.fixture
def world(hub_dbs: HubDatabases) -> Iterator[FastWorld]:
    """The seeded world on SQLite and on PostgreSQL (every test that has it runs on both)."""
    built = FastWorld(hub_dbs.path.parent, databases=hub_dbs)
    try:
        yield built
    finally:
        built.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]*)"', html)
    assert found, "page has no csrf-token meta tag"
    return found.group(1)


def new_client(world: FastWorld, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url=base_url)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = await client.get("/sign-in")
    assert page.status_code == 200
    reply = await client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert reply.status_code == 303, reply.text
    board = await client.get("/board")
    assert board.status_code == 200
    return csrf_of(board.text)


SignedIn = Callable[[str], Awaitable[tuple[httpx.AsyncClient, str]]]


@pytest_asyncio.fixture
async def signed_in(world: FastWorld) -> AsyncIterator[SignedIn]:
    """``await signed_in("sara")`` -> (client with Sara's session, her CSRF token)."""
    clients: list[httpx.AsyncClient] = []

    async def make(username: str) -> tuple[httpx.AsyncClient, str]:
        client = new_client(world)
        clients.append(client)
        return client, await sign_in(client, username)

    yield make
    for client in clients:
        await client.aclose()
