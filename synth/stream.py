"""Stream a cohort into a running hub as its gateways and vendors would.

Each publisher sends its own readings, one Batch per local day (in day order, so every
resident's readings arrive in time order), with its own broker login over MQTT (QoS 1,
``hjem/v1/<publisher>/obs``; rejections are read back from ``hjem/v1/<publisher>/errors``),
or, for vendors with ``--hub-url``, over HTTPS with their bearer token.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.models import MAX_OBSERVATIONS_PER_BATCH
from schemas.topics import errors_topic, observations_topic

__all__ = ["Outcome", "batches", "stream_http", "stream_mqtt"]


@dataclass
class Outcome:
    sent_messages: int = 0
    sent_observations: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)


def batches(cohort: Path, *, per_batch: int = 200) -> dict[str, list[bytes]]:
    """Publisher -> its messages (JSON Batch bodies), each a day or ``per_batch`` readings."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    path = cohort / "observations.jsonl"
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the cohort's observations: {exc}") from exc
    with handle:
        for line in handle:
            head = line[:400]
            publisher = head.split('"publisher":"', 1)[1].split('"', 1)[0]
            day = line.split('"effective":"', 1)[1][:10]
            groups[(publisher, day)].append(line.rstrip("\n"))
    out: dict[str, list[bytes]] = defaultdict(list)
    per_batch = min(per_batch, MAX_OBSERVATIONS_PER_BATCH)
    for (publisher, day), lines in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.sort(key=lambda x: x.split('"effective":"', 1)[1][:20])
        for i in range(0, len(lines), per_batch):
            part = lines[i : i + per_batch]
            last = max(x.split('"effective":"', 1)[1][:20] for x in part)
            body = (
                f'{{"schema":"hjem/1","message_id":"synth-{publisher}-{day}-{i // per_batch}",'
                f'"publisher":"{publisher}","sent":"{last}","observations":[{",".join(part)}]}}'
            )
            out[publisher].append(body.encode())
    return dict(out)


def _mqtt_client(url: str, username: str, password: str) -> Any:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from foundation.mqtturl import broker_host, broker_port, is_tls_url

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"synth-{username}", protocol=paho.MQTTv5
    )
    client.username_pw_set(username, password)
    if is_tls_url(url):
        client.tls_set_context(ssl.create_default_context())
    client.connect(broker_host(url), broker_port(url), keepalive=30)
    return client


def _keep_rejection(rejections: list[dict[str, Any]], payload: bytes) -> None:
    """A Rejection (``errors``) counts; a Notice (``notices``: stored, e.g. a device not yet
    assigned) does not."""
    message = json.loads(payload)
    if "errors" in message:
        rejections.append(message)


def _publish_all(
    client: Any, publisher: str, messages: list[bytes], timeout_s: float
) -> list[dict[str, Any]]:
    rejections: list[dict[str, Any]] = []
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, msg: _keep_rejection(rejections, msg.payload)
    client.on_subscribe = lambda *_: subscribed.set()
    client.loop_start()
    try:
        client.subscribe(errors_topic(publisher), qos=1)
        if not subscribed.wait(timeout_s):
            raise ValueError(f"{publisher}: the broker did not confirm the errors subscription")
        infos = [client.publish(observations_topic(publisher), m, qos=1) for m in messages]
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise ValueError(f"{publisher}: no PUBACK within {timeout_s:.0f} s")
        time.sleep(0.3)  # a rejection follows its PUBACK closely
    finally:
        client.loop_stop()
        client.disconnect()
    return rejections


def stream_mqtt(
    cohort: Path,
    mqtt_url: str,
    passwords: dict[str, str],
    *,
    timeout_s: float = 60.0,
    only: set[str] | None = None,
) -> Outcome:
    outcome = Outcome()
    for publisher, messages in batches(cohort).items():
        if only is not None and publisher not in only:
            continue
        if publisher not in passwords:
            raise ValueError(f"no broker password for publisher {publisher!r} in the credentials")
        client = _mqtt_client(mqtt_url, publisher, passwords[publisher])
        outcome.rejections += _publish_all(client, publisher, messages, timeout_s)
        outcome.sent_messages += len(messages)
        outcome.sent_observations += sum(m.count(b'"source":') for m in messages)
    return outcome


def stream_http(
    cohort: Path, hub_url: str, tokens: dict[str, str], *, cafile: Path | None = None
) -> Outcome:
    """Vendors' readings over HTTPS (``POST /api/v1/observations``, bearer token)."""
    outcome = Outcome()
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    for publisher, messages in batches(cohort).items():
        if publisher not in tokens:
            continue
        for body in messages:
            request = urllib.request.Request(  # noqa: S310 - the operator's hub URL
                f"{hub_url.rstrip('/')}/api/v1/observations",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {tokens[publisher]}",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, context=context, timeout=30):  # noqa: S310
                    pass
            except urllib.error.HTTPError as exc:
                outcome.rejections.append(
                    {
                        "publisher": publisher,
                        "status": exc.code,
                        "detail": exc.read()[:500].decode(errors="replace"),
                    }
                )
            outcome.sent_messages += 1
            outcome.sent_observations += body.count(b'"source":')
    return outcome


def iter_times(cohort: Path) -> Iterator[datetime]:
    for line in (cohort / "observations.jsonl").open(encoding="utf-8"):
        yield datetime.fromisoformat(line.split('"effective":"', 1)[1][:20]).astimezone(UTC)
