"""Fixtures for the dashboard tests: a seeded world and signed-in TestClients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.browser import PASSWORD, FastWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FastWorld]:
    built = FastWorld(tmp_path)
    try:
        yield built
    finally:
        built.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]*)"', html)
    assert found, "page has no csrf-token meta tag"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the session's CSRF token."""
    page = client.get("/sign-in")
    assert page.status_code == 200
    reply = client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    board = client.get("/board")
    assert board.status_code == 200
    return csrf_of(board.text)


@pytest.fixture
def client_for(world: FastWorld) -> Iterator[Callable[[str], tuple[TestClient, str]]]:
    clients: list[TestClient] = []

    def make(username: str) -> tuple[TestClient, str]:
        client = TestClient(world.app, base_url="http://testserver")
        clients.append(client)
        return client, sign_in(client, username)

    yield make
    for client in clients:
        client.close()
