"""Notices to publishers about readings the hub accepted (:mod:`schemas.notices`).

:func:`notices_of` is pure: what a judged message's accepted readings call for (a device not
assigned to a resident, an observation none of whose codes the codes table knows). The HTTPS
answer carries them all. Over MQTT, :class:`Notices` sends them on the publisher's errors
topic, limited so that a publisher cannot make the hub flood it (or the broker): a notice about
one (publisher, kind, device or code) at most once per ``interval``, and at most ``burst``
notice messages per publisher per ``window``; what is held back is not remembered, so it is
sent when it happens again later.
"""

from __future__ import annotations

import functools
from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from hub.ingest.commit import Judgement
from hub.store.base import StoredObservation
from schemas.codes import CodesTable, codes
from schemas.models import encode
from schemas.notices import MAX_NOTICES, Notice, NoticeItem
from schemas.topics import errors_topic

__all__ = ["Notices", "notice_message", "notices_of"]


@functools.lru_cache(maxsize=4)
def _known(table: CodesTable) -> frozenset[tuple[str, str]]:
    """Every (system, code) of the table's codings."""
    return frozenset((c.system, c.code) for m in table for c in m.codings)


def _unknown(item: StoredObservation, table: CodesTable) -> NoticeItem | None:
    codings = item.reading.code
    known = _known(table)
    if any((c.system, c.code) in known for c in codings):
        return None
    first = codings[0]
    return NoticeItem(
        kind="unknown-code",
        path=f"$.observations[{item.position}].code" if item.position >= 0 else "$.observations",
        reason=(
            f"code {first.code!r} of system {first.system!r} is not in Hjem's codes table: the"
            " reading is stored and shown as another measure, but no chart, score or alert"
            " rule reads it; send a code of codes.toml first if there is one"
        ),
        observation_id=item.id,
        device_id=item.device_id,
        code=f"{first.system}|{first.code}",
    )


def _unassigned(item: StoredObservation) -> NoticeItem:
    where = f"$.observations[{item.position}]" if item.position >= 0 else "$.observations[?]"
    return NoticeItem(
        kind="unassigned-device",
        path=f"{where}.source.device.id",
        reason=(
            f"device {item.device_id!r} is not assigned to a resident: its readings are stored"
            " without one until the operator assigns it (hjem admin assign-device)"
        ),
        observation_id=item.id,
        device_id=item.device_id,
    )


def notices_of(judgement: Judgement, table: CodesTable | None = None) -> list[NoticeItem]:
    """One notice per unassigned device and per unknown code of the accepted readings."""
    table = table or codes()
    out: dict[tuple[str, str], NoticeItem] = {}
    for item in judgement.items:
        if item.resident_id is None and ("unassigned-device", item.device_id) not in out:
            out["unassigned-device", item.device_id] = _unassigned(item)
        first = item.reading.code[0]
        key = ("unknown-code", f"{first.system}|{first.code}")
        if key not in out:
            unknown = _unknown(item, table)
            if unknown is not None:
                out[key] = unknown
    return list(out.values())[:MAX_NOTICES]


def notice_message(
    judgement: Judgement, publisher: str, items: list[NoticeItem], now: datetime
) -> Notice:
    """The notice of an accepted message from ``publisher`` (the judgement's)."""
    return Notice(
        message_id=judgement.message_id,
        publisher=publisher,
        topic=judgement.inbound.topic[:512],
        time=now,
        notices=items,
    )


class Notices:
    """The MQTT notices of judged messages, rate-limited per publisher and device or code."""

    def __init__(
        self,
        *,
        interval: timedelta = timedelta(hours=1),
        burst: int = 5,
        window: timedelta = timedelta(minutes=1),
        max_keys: int = 100_000,
    ) -> None:
        self.interval, self.burst, self.window, self.max_keys = interval, burst, window, max_keys
        self._sent: OrderedDict[tuple[str, str, str], datetime] = OrderedDict()
        self._recent: dict[str, deque[datetime]] = {}

    def messages(self, judgements: Iterable[Judgement], now: datetime) -> list[tuple[str, bytes]]:
        """(topic, payload) of the notices to send now."""
        out: list[tuple[str, bytes]] = []
        for judgement in judgements:
            publisher = judgement.publisher
            if publisher is None or not judgement.items:
                continue
            fresh = [n for n in notices_of(judgement) if self._due(publisher, n, now)]
            if fresh and self._take(publisher, now):
                for notice in fresh:
                    self._remember(publisher, notice, now)
                message = notice_message(judgement, publisher, fresh, now)
                out.append((errors_topic(publisher), encode(message)))
        return out

    @staticmethod
    def _key(publisher: str, notice: NoticeItem) -> tuple[str, str, str]:
        subject = notice.code if notice.kind == "unknown-code" else notice.device_id
        return (publisher, notice.kind, subject or "")

    def _due(self, publisher: str, notice: NoticeItem, now: datetime) -> bool:
        last = self._sent.get(self._key(publisher, notice))
        return last is None or now - last >= self.interval

    def _remember(self, publisher: str, notice: NoticeItem, now: datetime) -> None:
        key = self._key(publisher, notice)
        self._sent.pop(key, None)
        self._sent[key] = now
        while len(self._sent) > self.max_keys:
            self._sent.popitem(last=False)

    def _take(self, publisher: str, now: datetime) -> bool:
        """One of the publisher's ``burst`` notice messages per ``window``, if one is left."""
        recent = self._recent.setdefault(publisher, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) >= self.burst:
            return False
        recent.append(now)
        return True
