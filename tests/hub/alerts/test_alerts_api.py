"""The alerts HTTP API: authentication, organisation scoping, actions, problem details, and
the live stream (server-sent events) from a real uvicorn server on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from hjem.mosquitto import free_port
from hub.alerts.api import install_alerts, router
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.auth import Authenticator, LoginThrottle, Role, UserStore, fast_hasher, install_auth
from schemas.models import AlertEvent, AlertState
from tests.support.alerts import T0, Harness, item, obs

pytestmark = pytest.mark.asyncio

RULES = '[[rule]]\nid = "fall"\nkind = "event"\nmeasure = "fall"\n'


@dataclass
class Api:
    h: Harness
    service: AlertService
    app: FastAPI
    tokens: dict[str, str]

    def fall(self, resident: str, organisation: str) -> str:
        [event] = self.h.engine.observe(
            [
                item(
                    obs("fall", at=self.h.clock.now(), device=f"w-{resident}", value_code="fall"),
                    resident,
                    organisation=organisation,
                )
            ]
        )
        return event.alert_id

    def client(self, user: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://hub", headers=headers
        )


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    h = Harness(tmp_path / "hub.db", RULES)
    users = UserStore(h.conn, h.clock, fast_hasher())
    anna = users.create_user("anna", "correct horse 1", Role.CARE_STAFF, "org-a", teams=("day",))
    bo = users.create_user("bo", "correct horse 2", Role.CARE_STAFF, "org-b")
    root = users.create_user("root", "correct horse 3", Role.ADMIN, None)
    tokens = {u.username: users.issue_token(u.id, "test") for u in (anna, bo, root)}
    settings = AlertSettings(mqtt=False, tick_seconds=0.05, stream_keepalive_seconds=0.2)
    async with AlertService(h.engine, settings) as service:
        app = FastAPI()
        install_auth(app, Authenticator(users, LoginThrottle(h.clock)))
        install_alerts(app, service)
        app.include_router(router)
        yield Api(h, service, app, tokens)


async def test_requests_need_authentication(api: Api) -> None:
    async with api.client(None) as client:
        response = await client.get("/api/v1/alerts")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["title"] == "Not authenticated"
    async with api.client(None) as client:
        client.headers["Authorization"] = "Bearer hjt_not-a-token"
        response = await client.get("/api/v1/alerts")
    assert response.json()["detail"] == "unknown, expired or revoked API token"


async def test_staff_see_only_their_organisation(api: Api) -> None:
    a = api.fall("r-1", "org-a")
    b = api.fall("r-2", "org-b")
    async with api.client("anna") as client:
        listed = (await client.get("/api/v1/alerts")).json()
        hidden = await client.get(f"/api/v1/alerts/{b}")
        ack_other = await client.post(f"/api/v1/alerts/{b}/ack")
    assert [x["id"] for x in listed] == [a]
    assert listed[0]["state"] == "ACTIVE_UNACK"
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"no alert {b!r}"
    assert ack_other.status_code == 404
    assert api.h.engine.store.get(b).state is AlertState.ACTIVE_UNACK
    async with api.client("root") as client:
        everything = (await client.get("/api/v1/alerts")).json()
    assert sorted(x["id"] for x in everything) == sorted([a, b])


async def test_ack_resolve_audit_and_state_filter(api: Api) -> None:
    a = api.fall("r-1", "org-a")
    second = api.fall("r-3", "org-a")
    async with api.client("anna") as client:
        acked = await client.post(f"/api/v1/alerts/{a}/ack", json={"note": "on my way"})
        again = await client.post(f"/api/v1/alerts/{a}/ack")
        no_note = await client.post(f"/api/v1/alerts/{a}/resolve", json={})
        resolved = await client.post(
            f"/api/v1/alerts/{a}/resolve", json={"note": "helped up, no injury"}
        )
        audit = (await client.get(f"/api/v1/alerts/{a}/audit")).json()
        open_unacked = (await client.get("/api/v1/alerts", params={"state": "ACTIVE_UNACK"})).json()
        several = await client.get(
            "/api/v1/alerts", params=[("state", "ACTIVE_UNACK"), ("state", "CLEARED_ACK")]
        )
        bad_state = await client.get("/api/v1/alerts", params={"state": "SLEEPING"})
    assert (acked.status_code, acked.json()["state"], acked.json()["assignee"]) == (
        200,
        "ACTIVE_ACK",
        "anna",
    )
    assert again.status_code == 409
    assert again.json()["state"] == "ACTIVE_ACK"
    assert no_note.status_code == 422
    assert no_note.headers["content-type"] == "application/problem+json"
    assert no_note.json()["errors"][0]["loc"] == ["body", "note"]
    assert resolved.json()["state"] == "CLEARED_ACK"
    assert [(e["action"], e["actor"], e["note"]) for e in audit] == [
        ("fire", "system", None),
        ("acknowledge", "anna", "on my way"),
        ("resolve", "anna", "helped up, no injury"),
    ]
    assert [x["id"] for x in open_unacked] == [second]
    assert len(several.json()) == 2
    assert bad_state.status_code == 422


async def test_silences_are_for_admins(api: Api) -> None:
    body = {
        "reason": "in hospital",
        "resident": "r-1",
        "ends": (T0 + timedelta(days=3)).isoformat(),
    }
    async with api.client("anna") as client:
        refused = await client.post("/api/v1/alerts/silences", json=body)
    async with api.client("root") as client:
        created = await client.post("/api/v1/alerts/silences", json=body)
        listed = (await client.get("/api/v1/alerts/silences")).json()
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert created.status_code == 201
    assert [(s["resident"], s["created_by"]) for s in listed] == [("r-1", "root")]
    assert (
        api.h.engine.observe([item(obs("fall", at=T0, device="w-r-1", value_code="fall"), "r-1")])
        == []
    )


@contextlib.asynccontextmanager
async def _uvicorn(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn-test")
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _next_block(lines: AsyncIterator[str]) -> list[str]:
    block: list[str] = []
    async for line in lines:
        if line == "":
            if block:
                return block
            continue
        block.append(line)
    return block


async def test_live_stream_over_a_real_server(api: Api) -> None:
    async with (
        _uvicorn(api.app) as url,
        httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as client,
    ):
        headers_a = {"Authorization": f"Bearer {api.tokens['anna']}"}
        headers_b = {"Authorization": f"Bearer {api.tokens['bo']}"}
        async with (
            client.stream("GET", "/api/v1/alerts/stream", headers=headers_a) as stream_a,
            client.stream("GET", "/api/v1/alerts/stream", headers=headers_b) as stream_b,
        ):
            assert stream_a.headers["content-type"].startswith("text/event-stream")
            lines_a, lines_b = stream_a.aiter_lines(), stream_b.aiter_lines()
            assert await _next_block(lines_a) == [": subscribed"]
            assert await _next_block(lines_b) == [": subscribed"]
            alert_id = api.fall("r-1", "org-a")
            block = await asyncio.wait_for(_next_block(lines_a), 5)
            assert block[:2] == [f"id: {alert_id}:0", "event: alert"]
            event = AlertEvent.model_validate_json(block[2].removeprefix("data: "))
            assert (event.alert_id, event.state) == (alert_id, AlertState.ACTIVE_UNACK)
            # the other organisation's user gets only keep-alives
            assert await asyncio.wait_for(_next_block(lines_b), 5) == [": keepalive"]
    assert api.service.broadcaster.subscribers == 0
