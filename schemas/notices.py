"""The hub's notices to a publisher: readings stored, but something the publisher should know.

A :class:`Notice` goes out on the publisher's errors topic (``hjem/v1/<publisher>/errors``,
next to the :class:`~schemas.models.Rejection`; a notice has ``notices``, a rejection
``errors``) and into the HTTPS answer (its ``notices`` list). Kinds:

* ``unassigned-device``: the device is not assigned to a resident yet; its readings are stored
  without one until the operator assigns it (``hjem admin assign-device``);
* ``unknown-code``: none of the observation's codes is in ``codes.toml``; the reading is stored
  and shown in the resident's table of other measures, but no rule, chart or score reads it.

Over MQTT the hub sends a notice about one device or code at most once an hour per publisher,
and at most a few notice messages a minute (:mod:`hub.ingest.notices`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas import bounds as b
from schemas.models import Identifier, PublisherId, ShortText, Text, UtcTime

__all__ = ["MAX_NOTICES", "Notice", "NoticeItem", "NoticeKind"]

MAX_NOTICES = 100
NoticeKind = Literal["unassigned-device", "unknown-code"]


CodeRef = Annotated[str, StringConstraints(max_length=b.CODE_SYSTEM_MAX + b.CODE_MAX + 1)]


class NoticeItem(BaseModel):
    """One thing the publisher should know about one accepted observation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: NoticeKind
    path: Annotated[str, StringConstraints(max_length=256)] = Field(
        description="JSON path of what the notice is about, e.g. $.observations[0].code"
    )
    reason: Text
    observation_id: ShortText | None = None
    device_id: Identifier | None = None
    code: (
        Annotated[str, StringConstraints(max_length=b.CODE_SYSTEM_MAX + b.CODE_MAX + 1)] | None
    ) = Field(default=None, description="'<system>|<code>' of an unknown code")


class Notice(BaseModel):
    """The hub's word on a message it accepted (on the publisher's errors topic)."""

    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    message_id: ShortText | None = None
    publisher: PublisherId
    topic: Text
    time: UtcTime
    notices: Annotated[list[NoticeItem], Field(min_length=1, max_length=MAX_NOTICES)]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
