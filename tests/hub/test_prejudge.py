"""The relay's verdicts: what the hub restores equals what the fast path accepted, and a
verdict the hub cannot trust is ignored (the payload is judged again), never believed."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.ingest.commit import Inbound, judge
from hub.ingest.fastpath import accept
from hub.ingest.payloads import inflate, stored_form
from hub.ingest.verdicts import restore, verdict
from hub.mqtt.frames import FrameBuffer, FrameWriter, encode_frame
from tests.schemas.factories import NOW, batch

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
TOPIC = "hjem/v1/gw-1/obs"


def _no_resident(device: str, t_us: int, publisher: str) -> str | None:
    del device, t_us, publisher
    return None


def test_restored_verdicts_equal_the_fast_path_on_every_valid_example() -> None:
    for path in sorted((EXAMPLES / "valid").glob("*.json")):
        data = json.loads(path.read_text())
        now = datetime.fromisoformat(data["sent"]) + timedelta(minutes=1)
        publisher, payload = data["publisher"], path.read_bytes()
        blob = verdict(f"hjem/v1/{publisher}/obs", payload, now=now)
        assert blob is not None, path.name
        fast = accept(payload, now=now, expected_publisher=publisher)
        assert fast is not None
        expected = replace(fast, stored_payload=stored_form(payload))
        assert restore(blob, publisher=publisher) == expected, path.name


def test_a_verdict_carries_the_payload_as_stored_byte_for_byte() -> None:
    for count, encoding in ((1, None), (40, "zlib")):
        payload = json.dumps(batch(count)).encode()
        blob = verdict(TOPIC, payload, now=NOW)
        assert blob is not None
        restored = restore(blob, publisher="gw-1")
        assert restored is not None
        assert restored.stored_payload is not None
        assert restored.stored_payload[1] == encoding
        assert inflate(*restored.stored_payload) == payload


def test_restored_times_are_utc_datetimes() -> None:
    blob = verdict(TOPIC, json.dumps(batch(3)).encode(), now=NOW)
    assert blob is not None
    restored = restore(blob, publisher="gw-1")
    assert restored is not None
    assert [o.effective.tzinfo for o in restored.observations] == [UTC] * 3


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (TOPIC, b"{not json"),
        (TOPIC, json.dumps(batch(2, publisher="gw-2")).encode()),  # another publisher's message
        ("hjem/v1/gw-1/status", json.dumps(batch(1)).encode()),  # not an observation topic
        ("not/a/hjem/topic/at-all", json.dumps(batch(1)).encode()),
        (TOPIC, json.dumps(batch(1, sent="2026-11-28 09:00")).encode()),  # the models refuse it
    ],
)
def test_no_verdict_on_what_the_fast_path_declines(topic: str, payload: bytes) -> None:
    assert verdict(topic, payload, now=NOW) is None


def test_a_verdict_for_another_publisher_or_garbled_is_not_restored() -> None:
    blob = verdict(TOPIC, json.dumps(batch(2)).encode(), now=NOW)
    assert blob is not None
    assert restore(blob, publisher="gw-2") is None
    assert restore(blob[:-3], publisher="gw-1") is None
    assert restore(b"\x93\x01\x02\x03", publisher="gw-1") is None


def test_a_verdict_naming_another_source_is_not_restored() -> None:
    blob = verdict(TOPIC, json.dumps(batch(2)).encode(), now=NOW)
    assert blob is not None
    raw = msgspec.msgpack.decode(blob)
    raw[2][1]["source"]["publisher"] = "gw-9"
    assert restore(msgspec.msgpack.encode(raw), publisher="gw-1") is None


def test_judge_uses_a_verdict_and_ignores_an_untrusted_one() -> None:
    payload = json.dumps(batch(3)).encode()
    blob = verdict(TOPIC, payload, now=NOW)
    assert blob is not None
    plain = judge(Inbound(TOPIC, payload, NOW), now=NOW, resolve=_no_resident)
    with_verdict = judge(Inbound(TOPIC, payload, NOW, verdict=blob), now=NOW, resolve=_no_resident)
    bogus = judge(Inbound(TOPIC, payload, NOW, verdict=b"\xc1"), now=NOW, resolve=_no_resident)
    assert len(plain.items) == 3
    for judged in (with_verdict, bogus):
        assert [(i.reading, i.effective) for i in judged.items] == [
            (i.reading, i.effective) for i in plain.items
        ]
        assert judged.rejection is None


def test_a_verdict_never_hides_a_bad_payload() -> None:
    """A verdict that does not belong to the payload's topic is ignored; the payload decides."""
    good = verdict("hjem/v1/gw-2/obs", json.dumps(batch(1, publisher="gw-2")).encode(), now=NOW)
    assert good is not None
    bad = b'{"schema": "hjem/1"}'
    judged = judge(Inbound(TOPIC, bad, NOW, verdict=good), now=NOW, resolve=_no_resident)
    assert judged.items == []
    assert judged.rejection is not None


def test_frame_writer_sends_in_order_and_pushes_back_when_the_reader_stalls() -> None:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    writer = FrameWriter(ours, limit_bytes=64 * 1024)
    frames = [encode_frame(("m", [i, b"x" * 10_000])) for i in range(40)]
    done = threading.Event()

    def produce() -> None:
        for frame in frames:
            writer.put(frame)
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set()  # 400 KB offered, nobody reads: the producer waits
    got: list[Any] = []
    buffer = FrameBuffer()
    while len(got) < len(frames):
        got += buffer.feed(theirs.recv(65536))
    assert done.wait(5)
    assert [f[1][0] for f in got] == list(range(40))
    writer.close()
    ours.close()
    theirs.close()


def test_frame_writer_drops_frames_once_the_reader_is_gone() -> None:
    ours, theirs = socket.socketpair()
    writer = FrameWriter(ours, limit_bytes=1024)
    theirs.close()
    writer.put(encode_frame(("m", [b"x" * 4096])))
    deadline = time.monotonic() + 5
    while not writer.gone and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.gone
    writer.put(encode_frame(("m", [b"y" * 4096])))  # returns at once: nothing to wait for
    writer.close()
    ours.close()
