"""The time type of the messages: RFC 3339 with a UTC offset, stored and re-emitted in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from schemas import bounds as b

__all__ = ["UtcTime"]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-11-28T10:15:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        raise ValueError("time lies outside years 1-9999 once converted to UTC") from None


class _OffsetRequired:
    """In the JSON Schema, a time string must end in its offset (``Z`` or ``+01:00``)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = b.model_pattern(b.TIME_WITH_OFFSET)
        return schema


UtcTime = Annotated[datetime, AfterValidator(_require_utc), _OffsetRequired()]
"""An RFC 3339 time with an offset; stored and re-emitted in UTC."""
