"""The hub's MQTT notices are rate-limited per publisher and device or code (issue 21)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hub.ingest.commit import Inbound, Judgement, judge
from hub.ingest.notices import Notices
from schemas.notices import Notice
from tests.schemas.factories import batch

T = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def judged(devices: list[str], now: datetime = T, code: str = "150456") -> Judgement:
    message = batch(len(devices))
    for obs, device in zip(message["observations"], devices, strict=True):
        obs["source"]["device"]["id"] = device
        obs["code"][0]["code"] = code
    message["sent"] = obs["effective"] = now.isoformat()
    inbound = Inbound("hjem/v1/gw-1/obs", json.dumps(message).encode(), now)
    return judge(inbound, now=now, resolve=lambda _device, _at, _publisher: None)


def sent(notices: Notices, judgement: Judgement, now: datetime) -> list[Notice]:
    out = notices.messages([judgement], now)
    assert all(topic == "hjem/v1/gw-1/errors" for topic, _ in out)
    return [Notice.model_validate_json(payload) for _, payload in out]


def test_one_notice_per_device_and_code_per_interval() -> None:
    notices = Notices(interval=timedelta(hours=1))
    first = sent(notices, judged(["d1", "d1", "d2"], code="999999"), T)
    assert len(first) == 1
    kinds = sorted((n.kind, n.code or n.device_id) for n in first[0].notices)
    assert kinds == [
        ("unassigned-device", "d1"),
        ("unassigned-device", "d2"),
        ("unknown-code", "urn:iso:std:iso:11073:10101|999999"),
    ]
    assert first[0].publisher == "gw-1"
    assert first[0].message_id == "m-1"
    later = T + timedelta(minutes=30)
    again = sent(notices, judged(["d1", "d3"], later, code="999999"), later)
    assert [(n.kind, n.device_id) for n in again[0].notices] == [("unassigned-device", "d3")]
    assert sent(notices, judged(["d1", "d2"], later, code="999999"), later) == []
    after = T + timedelta(hours=1)
    assert len(sent(notices, judged(["d1"], after), after)[0].notices) == 1


def test_a_burst_of_new_devices_cannot_flood() -> None:
    notices = Notices(burst=3, window=timedelta(minutes=1))
    told = [sent(notices, judged([f"d{i}"]), T) for i in range(10)]
    assert [len(t) for t in told] == [1, 1, 1] + [0] * 7
    held_back = T + timedelta(minutes=1)  # what was held back is sent when it happens again
    assert len(sent(notices, judged(["d5"], held_back), held_back)) == 1


def test_nothing_to_say_about_assigned_devices_with_known_codes() -> None:
    notices = Notices()
    inbound = judged(["d1"]).inbound
    assigned = judge(inbound, now=T, resolve=lambda _device, _at, _publisher: "r-1")
    assert notices.messages([assigned], T) == []


def test_memory_is_bounded() -> None:
    notices = Notices(max_keys=5, burst=100)
    for i in range(20):
        sent(notices, judged([f"d{i}"]), T)
    # d0 was forgotten (only the newest 5 are remembered): told again within the hour
    assert len(sent(notices, judged(["d0"]), T)) == 1
    assert sent(notices, judged(["d19"]), T) == []
