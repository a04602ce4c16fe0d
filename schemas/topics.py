"""The MQTT topic scheme (version segment ``v1``).

Every publisher (gateway or vendor system) has exactly one MQTT username, and its topics
carry that username as a segment, so that a broker ACL keyed on the username confines each
publisher to its own topics (Mosquitto: ``pattern write hjem/v1/%u/obs``).

========================================  ==========  ===========================================
topic                                     direction   payload
========================================  ==========  ===========================================
``hjem/v1/{publisher}/obs``               pub → hub   :class:`~schemas.models.Batch`
``hjem/v1/{publisher}/status``            pub → hub   :class:`~schemas.models.GatewayStatus`
                                                      (birth and Last Will, retained)
``hjem/v1/{publisher}/errors``            hub → pub   :class:`~schemas.models.Rejection`, or
                                                      :class:`~schemas.notices.Notice`
``hjem/v1/hub/alerts/{alert_id}``         hub → all   :class:`~schemas.models.AlertEvent`
                                                      (retained: the alert's current state)
========================================  ==========  ===========================================

Personal identifiers never appear in topics: the publisher is a gateway or vendor id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALERTS_FILTER",
    "OBSERVATIONS_FILTER",
    "PREFIX",
    "STATUS_FILTER",
    "ParsedTopic",
    "TopicError",
    "alert_topic",
    "errors_topic",
    "observations_topic",
    "parse_topic",
    "shared",
    "status_topic",
]

PREFIX = "hjem/v1"
OBSERVATIONS_FILTER = f"{PREFIX}/+/obs"
STATUS_FILTER = f"{PREFIX}/+/status"
ALERTS_FILTER = f"{PREFIX}/hub/alerts/+"
_PUBLISHER = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
RESERVED_PUBLISHERS = frozenset({"hub"})

Kind = Literal["obs", "status", "errors"]


class TopicError(ValueError):
    """A topic that is not part of the scheme."""


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    publisher: str
    kind: Kind


def _check_publisher(publisher: str) -> str:
    if not _PUBLISHER.match(publisher) or publisher in RESERVED_PUBLISHERS:
        raise TopicError(
            f"publisher id {publisher!r} must be 1-64 of a-z 0-9 _ - (starting with a letter or "
            "digit) and not 'hub'"
        )
    return publisher


def observations_topic(publisher: str) -> str:
    return f"{PREFIX}/{_check_publisher(publisher)}/obs"


def status_topic(publisher: str) -> str:
    return f"{PREFIX}/{_check_publisher(publisher)}/status"


def errors_topic(publisher: str) -> str:
    return f"{PREFIX}/{_check_publisher(publisher)}/errors"


def alert_topic(alert_id: str) -> str:
    return f"{PREFIX}/hub/alerts/{alert_id}"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription, so that several hub processes split the load."""
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic: str) -> ParsedTopic:
    """Split a publisher topic into publisher id and kind, or raise :class:`TopicError`."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(f"topic {topic!r} is not hjem/v1/<publisher>/<obs|status|errors>")
    kind = parts[3]
    if kind not in ("obs", "status", "errors"):
        raise TopicError(f"topic {topic!r}: unknown kind {kind!r}")
    return ParsedTopic(publisher=_check_publisher(parts[2]), kind=kind)  # type: ignore[arg-type]
