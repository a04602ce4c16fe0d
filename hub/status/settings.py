"""The ``[status]`` section of the hub settings: when the hub stops vouching for calm."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StatusSettings"]


class StatusSettings(BaseModel):
    """Thresholds of the system-status model (``HJEM_HUB_STATUS__...``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no_data_minutes: float = Field(
        default=15,
        gt=0,
        description="an organisation with residents and no reading stored for this long"
        " (counted from the hub's start at the earliest) is reported",
    )
    ingest_lag_s: float = Field(
        default=30,
        gt=0,
        description="the oldest message received from the broker and not yet stored arrived"
        " this long ago",
    )
    backlog_messages: int = Field(
        default=500,
        ge=1,
        description="more than this many messages received from the broker are not yet stored"
        " and acknowledged (queued in the hub or in a commit); must be below"
        " min(mqtt.receive_maximum, ingest.queue_size), the most the broker sends unacknowledged",
    )
    outbox_overdue_s: float = Field(
        default=120, gt=0, description="a notification due this long ago is still undelivered"
    )
    engine_stall_s: float = Field(
        default=30, gt=0, description="the alert engine's timer has not run for this long"
    )
    interval_s: float = Field(
        default=2.0, gt=0, le=60, description="how often the hub looks at its parts"
    )
    probe_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="how often an idle hub checks that its database takes a write",
    )
