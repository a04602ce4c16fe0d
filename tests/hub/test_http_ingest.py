"""POST /api/v1/observations on the running hub (real uvicorn on 127.0.0.1, real SQLite)."""

from __future__ import annotations

import json

import httpx
import pytest

from hub.service import StoredBatch
from tests.hub.conftest import RunningHub
from tests.hub.helpers import batch, expected_ids

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

PROBLEM = "application/problem+json"


async def test_vendor_posts_with_its_token(running: RunningHub) -> None:
    hub = running.hub
    hub.registry.add_publisher("vendor-x", "vendor")
    token = hub.registry.issue_token("vendor-x")
    url = f"http://127.0.0.1:{hub.http_port}/api/v1/observations"
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        ok = await http.post(url, content=batch("vendor-x", 0, 4), headers=auth)
        assert ok.status_code == 200, ok.text
        answer = ok.json()
        notices = answer.pop("notices")
        assert answer == {
            "message_id": "m-vendor-x-0",
            "accepted": 4,
            "stored": 4,
            "duplicates": 0,
            "rejected": 0,
            "errors": [],
        }
        # dev-1 is nobody's yet: stored without a resident, and the vendor is told so (once)
        assert [(n["kind"], n["device_id"]) for n in notices] == [("unassigned-device", "dev-1")]
        unknown = json.loads(batch("vendor-x", 30, 1))
        unknown["observations"][0]["code"] = [{"system": "http://loinc.org", "code": "0000-0"}]
        told = await http.post(url, content=json.dumps(unknown).encode(), headers=auth)
        assert told.status_code == 200, told.text
        assert told.json()["stored"] == 1
        kinds = {n["kind"]: n for n in told.json()["notices"]}
        assert kinds["unknown-code"]["code"] == "http://loinc.org|0000-0"
        assert kinds["unknown-code"]["path"] == "$.observations[0].code"
        again = await http.post(url, content=batch("vendor-x", 0, 4), headers=auth)
        assert again.json()["duplicates"] == 4

        missing = await http.post(url, content=batch("vendor-x", 0, 1))
        assert missing.status_code == 401
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["title"] == "Missing credentials"
        wrong = await http.post(url, content=b"{}", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

        impostor = await http.post(url, content=batch("gw-1", 10, 1), headers=auth)
        assert impostor.status_code == 403
        body = impostor.json()
        assert body["type"].endswith("/publisher-mismatch")
        assert body["errors"][0]["path"] == "$.publisher"
        assert "does not match the sender 'vendor-x'" in body["detail"]

        garbage = await http.post(url, content=b"[1, 2", headers=auth)
        assert garbage.status_code == 422
        assert garbage.headers["content-type"] == PROBLEM
        assert garbage.json()["status"] == 422
        assert "not valid JSON" in garbage.json()["errors"][0]["reason"]

        mixed = json.loads(batch("vendor-x", 20, 2))
        mixed["observations"][1]["unit"] = "kg"
        partly = await http.post(url, content=json.dumps(mixed).encode(), headers=auth)
        assert partly.status_code == 200
        assert (partly.json()["stored"], partly.json()["rejected"]) == (1, 1)
        assert partly.json()["errors"][0]["path"] == "$.observations[1].unit"

        huge = await http.post(url, content=b" " * (300 * 1024), headers=auth)
        assert huge.status_code == 413
        assert huge.headers["content-type"] == PROBLEM

        health = await http.get(f"http://127.0.0.1:{hub.http_port}/healthz")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "store": "sqlite",
            "mqtt_connected": True,
            "store_fault": None,
        }
        ready = await http.get(f"http://127.0.0.1:{hub.http_port}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["ready"] is True
        assert ready.json()["reasons"] == []

    want = expected_ids("vendor-x", 0, 4) | expected_ids("vendor-x", 30, 1)
    want |= expected_ids("vendor-x", 20, 1)
    assert set(hub.store.ids()) == want  # type: ignore[attr-defined]
    http_events = [e for e in running.events if isinstance(e, StoredBatch)]
    assert [(e.transport, len(e.observations)) for e in http_events] == [
        ("http", 4),
        ("http", 1),
        ("http", 1),
    ]
    assert len(hub.ledger.dead_letters("vendor-x")) == 3
