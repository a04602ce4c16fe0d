"""MQTT ingest against a real Mosquitto: rejections with reasons while valid traffic flows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hjem.mosquitto import Mosquitto
from hub.registry.gateways import GatewayChange
from hub.service import StoredBatch
from schemas.models import Batch, GatewayStatus, StatusKind, encode
from tests.hub.conftest import RunningHub, eventually
from tests.hub.helpers import T0, Client, batch, expected_ids, observation

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]


@pytest.fixture
def broker(tmp_path):  # type: ignore[no-untyped-def]
    # Allow larger messages than the hub accepts, so that the hub's own size check is tested
    # (the shipped broker config refuses them earlier, at the same limit).
    with Mosquitto(workdir=tmp_path / "mosquitto", extra=["message_size_limit 1048576"]) as b:
        yield b


async def test_bad_messages_are_rejected_with_reasons_while_valid_ones_are_stored(
    broker: Mosquitto, running: RunningHub
) -> None:
    hub = running.hub
    errors = Client(broker, "errors-reader", subscribe="hjem/v1/+/errors")
    pub = Client(broker, "publisher")
    mixed = json.loads(batch("gw-1", 100, 3))
    mixed["message_id"] = "mixed"
    mixed["observations"][0]["source"]["publisher"] = "gw-2"  # identity mismatch inside
    mixed["observations"][2]["value"] = 36.6  # a JSON number: precision lost
    wrong_envelope = batch("gw-2", 200, 2, message_id="impostor")
    too_big = json.loads(batch("gw-1", 300, 1, message_id="too-big"))
    too_big["observations"][0]["device_time"] = "x" * 100
    too_big_bytes = json.dumps(too_big).encode() + b" " * (300 * 1024)
    pub.publish_many(
        [
            ("hjem/v1/gw-1/obs", batch("gw-1", 0, 5, message_id="first")),
            ("hjem/v1/gw-1/obs", b"\x00\xffnot json"),
            ("hjem/v1/gw-1/obs", json.dumps(mixed).encode()),
            ("hjem/v1/gw-1/obs", wrong_envelope),  # topic says gw-1, payload says gw-2
            ("hjem/v1/gw-1/obs", too_big_bytes),
            ("hjem/v1/gw-1/obs", b'{"schema": "hjem/1", "message_id": "no-obs"}'),
            ("hjem/v1/gw-1/obs", batch("gw-1", 10, 5, message_id="last")),
        ]
    )
    await eventually(lambda: len(errors.messages) >= 6, what="five rejections and a notice")
    await eventually(lambda: hub.ledger.counters().get("obs_messages_received", 0) == 7)
    received = [m for m in errors.json_messages() if "errors" in m]
    assert len(received) == 5
    # dev-1 is nobody's: the publisher is told once ('first'), not again ('mixed', 'last')
    notices = [m for m in errors.json_messages() if "notices" in m]
    told = [(n["message_id"], [i["kind"] for i in n["notices"]]) for n in notices]
    assert told == [("first", ["unassigned-device"])]
    rejections = {r.get("message_id"): r for r in received if r.get("message_id")}
    assert set(rejections) == {"mixed", "impostor", "no-obs"}
    reasons = [r["errors"][0]["reason"] for r in received if not r.get("message_id")]
    assert any("not valid JSON" in reason for reason in reasons)
    assert any("at most 262144 are accepted" in reason for reason in reasons)
    assert rejections["impostor"]["errors"][0]["path"] == "$.publisher"
    assert "does not match the sender 'gw-1'" in rejections["impostor"]["errors"][0]["reason"]
    assert rejections["no-obs"]["accepted"] == 0
    assert any(e["path"] == "$.observations" for e in rejections["no-obs"]["errors"])
    mixed_errors = {e["path"]: e["reason"] for e in rejections["mixed"]["errors"]}
    assert rejections["mixed"]["accepted"] == 1
    assert rejections["mixed"]["rejected"] == 2
    assert "is not the sender 'gw-1'" in mixed_errors["$.observations[0].source.publisher"]
    assert "decimal string" in mixed_errors["$.observations[2].value"]
    for rejection in received:
        assert rejection["publisher"] == "gw-1"
        assert rejection["topic"] == "hjem/v1/gw-1/obs"

    stored = set(hub.store.ids())  # type: ignore[attr-defined]
    want = expected_ids("gw-1", 0, 5) | expected_ids("gw-1", 10, 5) | {observation("gw-1", 101).id}
    assert stored == want
    # Read back as received: the partly valid message's accepted observation is the second
    # of its array, found by its position in the stored message.
    [kept] = hub.store.observations(  # type: ignore[attr-defined]
        device_id="dev-1", start=T0 + timedelta(seconds=100), end=T0 + timedelta(seconds=103)
    )
    assert kept.observation == observation("gw-1", 101)
    letters = hub.ledger.dead_letters()
    assert len(letters) == 5
    assert {d.message_id for d in letters} == {None, "mixed", "impostor", "no-obs"}
    assert max(len(d.payload) for d in letters) == 262144  # kept, cut at the limit
    assert next(d for d in letters if d.message_id == "mixed").payload == json.dumps(mixed).encode()
    counters = hub.ledger.counters()
    assert counters["observations_stored"] == 11
    assert counters["obs_messages_rejected"] == 4
    assert counters["obs_messages_partly_rejected"] == 1
    assert counters["observations_rejected"] == 2
    stored_events = [e for e in running.events if isinstance(e, StoredBatch)]
    assert sum(len(e.observations) for e in stored_events) == 11
    errors.close()
    pub.close()


async def test_redelivered_and_repeated_messages_are_stored_once(
    broker: Mosquitto, running: RunningHub
) -> None:
    pub = Client(broker, "publisher")
    for _ in range(3):
        pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 20))
    hub = running.hub
    await eventually(lambda: hub.ledger.counters().get("obs_messages_received", 0) == 3)
    assert hub.ledger.counters()["observations_duplicate"] == 40
    # The repeats stored nothing, not even their message.
    assert hub.conn.execute("SELECT COUNT(*) FROM message").fetchone()[0] == 1
    assert set(hub.store.ids()) == expected_ids("gw-1", 0, 20)  # type: ignore[attr-defined]
    stored_events = [e for e in running.events if isinstance(e, StoredBatch)]
    assert sum(len(e.observations) for e in stored_events) == 20
    pub.close()


async def test_observations_are_bound_to_the_resident_at_their_time(
    broker: Mosquitto, running: RunningHub
) -> None:
    hub = running.hub
    hub.registry.add_home("h-1", "Home 1")
    hub.registry.add_publisher("gw-1", "gateway", "h-1")
    anna = hub.registry.add_resident("Anna", "h-1")
    bo = hub.registry.add_resident("Bo", "h-1")
    hub.registry.assign("dev-1", anna.id, T0)
    hub.registry.assign("dev-1", bo.id, T0 + timedelta(seconds=5))
    pub = Client(broker, "publisher")
    pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 10))
    await eventually(lambda: any(isinstance(e, StoredBatch) for e in running.events))
    [event] = [e for e in running.events if isinstance(e, StoredBatch)]
    residents = [o.resident_id for o in event.observations]
    assert residents == [anna.id] * 5 + [bo.id] * 5
    assert "Anna" not in pub.client._client_id.decode()  # the edge never sends names
    latest = hub.store.latest(bo.id)
    assert latest["150364"].time == T0 + timedelta(seconds=9)
    pub.close()


def _status(kind: StatusKind, online: bool, seconds: int, publisher: str = "gw-1") -> bytes:
    return encode(
        GatewayStatus(
            publisher=publisher,
            kind=kind,
            online=online,
            time=T0 + timedelta(seconds=seconds),
            software="hjem-edge 0.1",
            outbox_depth=seconds,
        )
    )


async def test_gateway_birth_heartbeat_and_last_will(
    broker: Mosquitto, running: RunningHub
) -> None:
    hub = running.hub
    gateway = Client(broker, "gateway-gw-1")
    gateway.client.will_set("hjem/v1/gw-1/status", _status(StatusKind.DEATH, False, 0), 1, True)
    gateway.client.reconnect()
    gateway.publish("hjem/v1/gw-1/status", _status(StatusKind.BIRTH, True, 1), retain=True)
    gateway.publish("hjem/v1/gw-1/status", _status(StatusKind.HEARTBEAT, True, 2))
    gateway.publish("hjem/v1/gw-1/status", _status(StatusKind.BIRTH, True, 3, "gw-9"))
    await eventually(lambda: (g := hub.gateways.get("gw-1")) is not None and g.kind == "heartbeat")
    state = hub.gateways.get("gw-1")
    assert state is not None
    assert state.online
    assert state.status is not None
    assert state.status.outbox_depth == 2
    # The gateway dies without a clean disconnect: the broker publishes its Last Will.
    gateway.client.socket().close()  # type: ignore[union-attr]
    await eventually(lambda: not hub.gateways.get("gw-1").online, what="death")  # type: ignore[union-attr]
    changes = [e for e in running.events if isinstance(e, GatewayChange)]
    assert [(c.publisher, c.online, c.kind) for c in changes] == [
        ("gw-1", True, "birth"),
        ("gw-1", False, "death"),
    ]
    assert hub.gateways.get("gw-9") is None  # a status naming another publisher is refused
    assert hub.ledger.counters()["status_messages_rejected"] == 1
    gateway.client.loop_stop()


async def test_silent_gateway_times_out_and_data_brings_it_back(
    broker: Mosquitto, running: RunningHub
) -> None:
    hub = running.hub
    pub = Client(broker, "gw")
    pub.publish("hjem/v1/gw-1/status", _status(StatusKind.BIRTH, True, 1))
    await eventually(lambda: hub.gateways.get("gw-1") is not None)
    state = hub.gateways.get("gw-1")
    assert state is not None
    later = state.last_seen + timedelta(minutes=10)
    from hub.db import transaction

    with transaction(hub.conn):
        [change] = hub.gateways.expire(later, timedelta(minutes=3))
    assert (change.online, change.kind) == (False, "timeout")
    pub.publish("hjem/v1/gw-1/obs", batch("gw-1", 0, 1))
    await eventually(lambda: hub.gateways.get("gw-1").online)  # type: ignore[union-attr]
    assert any(isinstance(e, GatewayChange) and e.kind == "data" for e in running.events)
    pub.close()


async def test_batch_model_is_the_wire_form() -> None:
    payload = batch("gw-1", 0, 2)
    assert Batch.model_validate_json(payload).publisher == "gw-1"


async def test_first_start_is_subscribed_when_the_hub_is_entered(
    broker: Mosquitto, tmp_path
) -> None:
    """A message published right after the hub's first start is stored: start() waits for
    the SUBACK, not only the CONNACK (before the subscription exists nothing is queued)."""
    from hub.service import Hub
    from tests.hub.helpers import settings_for

    pub = Client(broker, "early-publisher")
    for attempt in range(3):  # a fresh database and session each time
        async with Hub(settings_for(broker, tmp_path / f"run-{attempt}")) as hub:
            assert hub.mqtt is not None
            assert hub.mqtt.subscribed  # SUBACK received before the hub counts as started
            pub.publish_many(
                [
                    (
                        "hjem/v1/gw-1/obs",
                        batch("gw-1", attempt * 10, 2, message_id=f"early-{attempt}"),
                    )
                ]
            )
            await eventually(
                lambda hub=hub: hub.ledger.counters().get("observations_accepted", 0) == 2,
                what="the early message stored",
            )
