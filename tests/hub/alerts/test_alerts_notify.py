"""Notifications through real parts: retained AlertEvents on a real Mosquitto, signed
webhooks to a real HTTP receiver on 127.0.0.1 (with a 500 and a retry), and the outbox
surviving a restart."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiomqtt
import httpx
import pytest

from foundation.settings import BrokerSettings
from hjem.mosquitto import Mosquitto
from hub.alerts.errors import StorageError
from hub.alerts.notify import (
    ASSIGNEE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Backoff,
    OutboxDispatcher,
    WebhookSender,
    verify,
)
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from schemas.models import AlertEvent, AlertState
from schemas.topics import ALERTS_FILTER
from tests.support.alerts import T0, Harness, item, obs

RULES = '[[rule]]\nid = "fall"\nkind = "event"\nmeasure = "fall"\n'
ESCALATING = RULES + (
    'escalation = "night"\n[escalation.night]\n'
    'steps = [{ responder = "team:night", ack_deadline_seconds = 300 }]\n'
)
SECRET = b"test-webhook-secret"
pytestmark = pytest.mark.asyncio


def _fall(h: Harness, resident: str = "r-1") -> str:
    [event] = h.engine.observe(
        [item(obs("fall", at=h.clock.now(), device=f"w-{resident}", value_code="fall"), resident)]
    )
    return event.alert_id


async def _until(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.mosquitto
async def test_alert_events_are_retained_on_mqtt(tmp_path: Path, broker: Mosquitto) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("mqtt",)
    target = BrokerSettings(url=f"mqtt://127.0.0.1:{broker.port}", client_id="alerts-test")
    async with AlertService(h.engine, AlertSettings(tick_seconds=0.05), target):
        alert_id = _fall(h)
        h.engine.acknowledge(alert_id, "nurse.anna", "coming")
        await _until(lambda: h.engine.store.outbox_counts("mqtt")["delivered"] == 2)
    assert h.engine.store.outbox_counts("mqtt") == {"delivered": 2, "pending": 0, "failed": 0}
    # a client that connects afterwards gets the alert's current state, retained
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="late-reader") as client:
        await client.subscribe(ALERTS_FILTER, qos=1)
        message = await asyncio.wait_for(anext(aiter(client.messages)), 5)
    assert message.retain is True
    assert str(message.topic) == f"hjem/v1/hub/alerts/{alert_id}"
    assert isinstance(message.payload, bytes)
    event = AlertEvent.model_validate_json(message.payload)
    assert (event.state, event.sequence, event.actor) == (AlertState.ACTIVE_ACK, 1, "nurse.anna")


@pytest.mark.mosquitto
async def test_mqtt_outbox_waits_for_the_broker(tmp_path: Path, broker: Mosquitto) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("mqtt",)
    broker.stop()
    target = BrokerSettings(url=f"mqtt://127.0.0.1:{broker.port}", client_id="alerts-test")
    async with AlertService(h.engine, AlertSettings(tick_seconds=0.05), target):
        _fall(h)
        await asyncio.sleep(0.3)  # the service retries its connection meanwhile
        assert h.engine.store.outbox_counts("mqtt")["pending"] == 1
        broker.start()
        await _until(lambda: h.engine.store.outbox_counts("mqtt")["delivered"] == 1, 15)


@pytest.mark.mosquitto
async def test_mqtt_publisher_reconnects_while_idle_after_a_broker_restart(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("mqtt",)
    target = BrokerSettings(url=f"mqtt://127.0.0.1:{broker.port}", client_id="alerts-test")
    async with AlertService(h.engine, AlertSettings(tick_seconds=0.05), target):
        _fall(h, "r-1")
        await _until(lambda: h.engine.store.outbox_counts("mqtt")["delivered"] == 1)
        broker.stop()
        # noticed while idle, without anything to publish
        await _until(lambda: "alerts MQTT:" in caplog.text, 10)
        broker.start()
        await asyncio.sleep(2.5)  # reconnected (first retry after 1 s) before the next alert
        _fall(h, "r-2")
        await _until(lambda: h.engine.store.outbox_counts("mqtt")["delivered"] == 2, 5)


class _Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(receiver.requests) < receiver.failures else 204
                receiver.requests.append((dict(self.headers.items()), body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    running = _Receiver(failures=1)
    yield running
    running.close()


async def test_webhook_is_signed_and_retried_after_a_500(
    tmp_path: Path, receiver: _Receiver
) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("webhook",)
    alert_id = _fall(h)
    async with httpx.AsyncClient(trust_env=False) as client:
        sender = WebhookSender(receiver.url, SECRET, client, h.clock)
        dispatcher = OutboxDispatcher(h.engine.store, sender, h.clock, Backoff(base_seconds=5))
        assert await dispatcher.run_once() == 0  # HTTP 500
        assert await dispatcher.run_once() == 0  # not due again before the backoff
        assert h.engine.store.next_due("webhook") == T0 + timedelta(seconds=5)
        h.clock.advance(5)
        assert await dispatcher.run_once() == 1
    assert [code for _, _, code in receiver.requests] == [500, 204]
    headers, body, _ = receiver.requests[1]
    event = AlertEvent.model_validate_json(body)
    assert (event.alert_id, event.state) == (alert_id, AlertState.ACTIVE_UNACK)
    stamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert int(stamp) == int((T0 + timedelta(seconds=5)).timestamp())
    assert verify(SECRET, stamp, body, signature, now=h.clock.now())
    assert not verify(b"wrong secret", stamp, body, signature, now=h.clock.now())
    assert not verify(SECRET, stamp, body + b" ", signature, now=h.clock.now())
    assert not verify(SECRET, stamp, body, signature, now=h.clock.now() + timedelta(hours=1))
    assert headers["X-Hjem-Event-Id"] == f"{alert_id}:0"
    assert h.engine.store.outbox_counts("webhook") == {"delivered": 1, "pending": 0, "failed": 0}


async def test_webhook_outbox_survives_a_restart_and_gives_up_eventually(
    tmp_path: Path, receiver: _Receiver
) -> None:
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("webhook",)
    _fall(h, "r-1")
    h.restart()  # nothing was delivered before the restart
    receiver.failures = 100
    async with httpx.AsyncClient(trust_env=False) as client:
        sender = WebhookSender(receiver.url, SECRET, client, h.clock)
        backoff = Backoff(base_seconds=1, max_seconds=4, max_attempts=4)
        dispatcher = OutboxDispatcher(h.engine.store, sender, h.clock, backoff)
        for _ in range(4):
            await dispatcher.run_once()
            h.clock.advance(4)
    assert len(receiver.requests) == 4
    assert h.engine.store.outbox_counts("webhook") == {"delivered": 0, "pending": 0, "failed": 1}
    [row] = h.conn.execute("SELECT attempts, last_error FROM alert_outbox").fetchall()
    assert row[0] == 4
    assert "HTTP 500" in row[1]


async def test_webhook_delivery_through_the_service(tmp_path: Path, receiver: _Receiver) -> None:
    receiver.failures = 0
    h = Harness(tmp_path / "hub.db", ESCALATING)
    h.engine.channels = ("webhook",)
    settings = AlertSettings(
        tick_seconds=0.05, mqtt=False, webhook_url=receiver.url, webhook_secret=SECRET.decode()
    )
    async with AlertService(h.engine, settings) as service:
        alert_id = _fall(h)
        service.engine.resolve(alert_id, "nurse", "false alarm")
        await _until(lambda: len(receiver.requests) == 2)
    bodies = [json.loads(body) for _, body, _ in receiver.requests]
    assert [(b["sequence"], b["state"]) for b in bodies] == [
        (0, "ACTIVE_UNACK"),
        (1, "CLEARED_ACK"),
    ]
    # the receiver learns whom to page (the escalation step's responder); the actor is in the body
    assert [h[ASSIGNEE_HEADER] for h, _, _ in receiver.requests] == ["team:night", "team:night"]
    assert bodies[1]["actor"] == "nurse"


async def test_the_outbox_waits_out_a_store_that_is_away(
    tmp_path: Path, receiver: _Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database outage (PostgreSQL restarted) makes the outbox's reads fail; the dispatcher
    waits for the store instead of ending (which stopped the whole hub), then delivers."""
    h = Harness(tmp_path / "hub.db", RULES)
    h.engine.channels = ("webhook",)
    _fall(h)
    store = h.engine.store
    real = store.due
    failures = [2]

    def flaky(*args: object, **kwargs: object) -> object:
        if failures[0]:
            failures[0] -= 1
            raise StorageError("alert store outbox due: connection refused")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "due", flaky)
    receiver.failures = 0
    async with httpx.AsyncClient(trust_env=False) as client:
        sender = WebhookSender(receiver.url, SECRET, client, h.clock)
        dispatcher = OutboxDispatcher(store, sender, h.clock, Backoff(base_seconds=5))
        running = asyncio.create_task(dispatcher.run(poll_seconds=0.05))
        try:
            for _ in range(200):
                if receiver.requests:
                    break
                await asyncio.sleep(0.05)
            assert not running.done(), running
        finally:
            running.cancel()
    assert failures == [0]
    assert [code for _, _, code in receiver.requests] == [204]
