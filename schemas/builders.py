"""Helpers that build observations from the codes table (used by the edge and by tests)."""

from __future__ import annotations

from datetime import datetime

from schemas.codes import codes
from schemas.identity import observation_id
from schemas.models import Component, DataAbsentReason, Observation, RawData, Source

__all__ = ["component", "make_observation"]


def component(
    key: str, value: str | None, unit: str | None = None, absent: DataAbsentReason | None = None
) -> Component:
    measure = codes()[key]
    unit = (unit or measure.unit) if value is not None else None
    return Component(
        code=list(measure.codings_for(unit)),
        value=value,
        unit=unit,
        data_absent_reason=absent,
    )


def make_observation(
    key: str,
    *,
    source: Source,
    effective: datetime,
    instant: str | None = None,
    extra: str = "",
    value: str | None = None,
    unit: str | None = None,
    **fields: object,
) -> Observation:
    """An observation of the measure ``key`` with codes (and the default unit) from the table.

    The codes are those that allow the reading's unit (:meth:`Measure.codings_for`).

    The id is derived from the device, the primary code, ``instant`` (default: the effective
    time) and ``extra``; pass the device's own timestamp or sequence number as ``instant``.
    """
    measure = codes()[key]
    primary = measure.primary
    oid = observation_id(
        source.device.id,
        primary.system,
        primary.code,
        instant if instant is not None else effective.isoformat(),
        extra,
    )
    if value is not None and unit is None:
        unit = measure.unit
    raw = fields.pop("raw", None)
    return Observation.model_validate(
        {
            "id": oid,
            "source": source,
            "code": list(measure.codings_for(unit if value is not None else None)),
            "effective": effective,
            "value": value,
            "unit": unit,
            "raw": raw if isinstance(raw, RawData | None) else RawData.model_validate(raw),
            **fields,
        }
    )
