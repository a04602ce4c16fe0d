"""The open Hjem message models (schema version 1).

Every reading that crosses a process boundary in Hjem is an :class:`Observation`, carried in
a :class:`Batch`. The fields follow the HL7 FHIR Personal Health Device IG closely enough that
:mod:`schemas.fhir` maps them to FHIR R4 without loss, while staying small enough to publish
with ``mosquitto_pub``.

Bounds (documented in ``schemas/README.md`` and enforced here):

* a message is at most :data:`MAX_PAYLOAD_BYTES` bytes;
* a batch holds at most :data:`MAX_OBSERVATIONS_PER_BATCH` observations;
* identifiers are at most 128 characters, free text at most 512, raw bytes at most 1 KiB.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas import bounds as b
from schemas.bounds import (
    MAX_COMPONENTS,
    MAX_OBSERVATIONS_PER_BATCH,
    MAX_PAYLOAD_BYTES,
    MAX_STATUS_FLAGS,
    model_pattern,
)
from schemas.utc_time import UtcTime as _UtcTime

__all__ = [
    "MAX_COMPONENTS",
    "MAX_OBSERVATIONS_PER_BATCH",
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "AdapterHealth",
    "AlertEvent",
    "AlertState",
    "Batch",
    "Coding",
    "Component",
    "DataAbsentReason",
    "DeviceHealth",
    "DeviceInfo",
    "GatewayStatus",
    "Observation",
    "ObservationStatus",
    "RawData",
    "Rejection",
    "RejectionError",
    "Severity",
    "Source",
    "StatusKind",
    "encode",
]

SCHEMA_VERSION = "hjem/1"
MAX_DEVICES_IN_STATUS = 512
MAX_REJECTION_ERRORS = 100

Identifier = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=b.IDENTIFIER_MAX, pattern=model_pattern(b.IDENTIFIER)
    ),
]
"""An identifier: letters, digits and ``. _ : -``, starting with a letter or digit."""

PublisherId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=b.PUBLISHER_MAX, pattern=model_pattern(b.PUBLISHER)),
]
"""A publisher (gateway or vendor) id; it is also the MQTT username and a topic segment."""

Text = Annotated[str, StringConstraints(max_length=b.TEXT_MAX)]
ShortText = Annotated[str, StringConstraints(max_length=b.SHORT_TEXT_MAX)]

DecimalString = Annotated[
    str,
    StringConstraints(max_length=b.DECIMAL_MAX, pattern=model_pattern(b.DECIMAL)),
]
"""A decimal number as a string, so that precision survives: ``"2.00"`` stays ``"2.00"``."""

UcumUnit = Annotated[
    str,
    StringConstraints(min_length=1, max_length=b.UCUM_UNIT_MAX, pattern=model_pattern(b.UCUM_UNIT)),
]
"""A UCUM case-sensitive unit code, e.g. ``mm[Hg]``, ``Cel``, ``/min``, ``%``, ``kg``."""

HexBytes = Annotated[
    str, StringConstraints(max_length=b.HEX_BYTES_MAX, pattern=model_pattern(b.HEX_BYTES))
]
"""Lower-case hexadecimal bytes, no separators."""


UtcTime = _UtcTime
"""An RFC 3339 time with an offset; stored and re-emitted in UTC (:mod:`schemas.utc_time`)."""


def _json_rules(kind: Literal["observation", "component"]) -> Any:
    """The JSON Schema rules of :mod:`schemas.json_rules` as an ``allOf`` (read when the
    JSON Schema is generated: the codes table imports these models)."""

    def extend(schema: dict[str, Any]) -> None:
        from schemas import json_rules

        rules = (
            json_rules.observation_rules if kind == "observation" else json_rules.component_rules
        )
        schema["allOf"] = rules()

    return extend


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class DataAbsentReason(enum.StrEnum):
    """Why a value is missing, with FHIR's data-absent-reason codes as values."""

    NOT_A_NUMBER = "not-a-number"  # IEEE-11073 NaN
    POSITIVE_INFINITY = "positive-infinity"  # +INF
    NEGATIVE_INFINITY = "negative-infinity"  # -INF
    ERROR = "error"  # NRes, reserved values, "measurement unsuccessful"
    UNKNOWN = "unknown"  # a sensor's "not available" value
    UNSUPPORTED = "unsupported"


class ObservationStatus(enum.StrEnum):
    FINAL = "final"
    PRELIMINARY = "preliminary"


class Coding(_Model):
    """One code in one code system (FHIR Coding)."""

    system: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=b.CODE_SYSTEM_MAX, pattern=model_pattern(b.CODE_SYSTEM)
        ),
    ]
    code: Annotated[
        str, StringConstraints(min_length=1, max_length=b.CODE_MAX, pattern=model_pattern(b.CODE))
    ]
    display: ShortText | None = None


class Component(_Model):
    """A part of a compound observation (blood pressure systolic, diastolic, mean)."""

    model_config = ConfigDict(json_schema_extra=_json_rules("component"))

    code: Annotated[list[Coding], Field(min_length=1, max_length=b.MAX_CODINGS)]
    value: DecimalString | None = None
    unit: UcumUnit | None = None
    data_absent_reason: DataAbsentReason | None = None

    @model_validator(mode="after")
    def _value_or_reason(self) -> Component:
        _check_value_unit_reason(self.value, self.unit, self.data_absent_reason)
        return self


def _check_value_unit_reason(
    value: str | None, unit: str | None, reason: DataAbsentReason | None
) -> None:
    if value is not None and reason is not None:
        raise ValueError("give either value or data_absent_reason, not both")
    if value is not None and unit is None:
        raise ValueError("a value needs its UCUM unit")


class DeviceInfo(_Model):
    """The measuring device. Never a person: the hub maps devices to residents."""

    id: Identifier
    address: Annotated[str, StringConstraints(pattern=model_pattern(b.DEVICE_ADDRESS))] | None = (
        None
    )
    system_id: Annotated[str, StringConstraints(pattern=model_pattern(b.SYSTEM_ID))] | None = Field(
        default=None,
        description="The device's IEEE EUI-64 system id (e.g. the Bluetooth System ID "
        "characteristic 0x2A23), 16 upper-case hex digits.",
    )
    serial: ShortText | None = None
    manufacturer: ShortText | None = None
    model: ShortText | None = None
    firmware: ShortText | None = None


class Source(_Model):
    """Who published the observation (gateway or vendor system) and which device measured it."""

    publisher: PublisherId
    gateway: Identifier | None = None
    device: DeviceInfo


class RawData(_Model):
    """The bytes as received, so that a reading can be decoded again later.

    ``format`` names the byte format: ``gatt:2a35`` for a GATT characteristic value,
    ``adv:bthome-v2``, ``adv:ruuvi-5``, ``adv:atc1441``, ``adv:pvvx`` for advertisements,
    ``vendor:<name>`` for a vendor's own format.
    """

    format: Annotated[
        str, StringConstraints(max_length=b.RAW_FORMAT_MAX, pattern=model_pattern(b.RAW_FORMAT))
    ]
    data: HexBytes


class Observation(_Model):
    """One measurement, event or state of one device at one time."""

    model_config = ConfigDict(json_schema_extra=_json_rules("observation"))

    id: Identifier = Field(description="Stable id for deduplication; see schemas.identity.")
    source: Source
    code: Annotated[list[Coding], Field(min_length=1, max_length=b.MAX_CODINGS)] = Field(
        description="Primary coding first (MDC or the Hjem code system), then LOINC, NPU."
    )
    effective: UtcTime = Field(description="When the measurement was taken, in UTC.")
    device_time: ShortText | None = Field(
        default=None,
        description="The device's own timestamp as it sent it (ISO 8601 with 0 for unknown "
        "fields, or a sequence/offset), before any clock correction.",
    )
    clock_corrected: bool = False
    sequence: Annotated[int, Field(ge=0, le=b.SEQUENCE_MAX)] | None = None
    value: DecimalString | None = None
    unit: UcumUnit | None = None
    value_boolean: bool | None = None
    value_code: Identifier | None = Field(
        default=None, description="An event or state code, e.g. 'press', 'fall'."
    )
    components: Annotated[list[Component], Field(max_length=MAX_COMPONENTS)] = Field(
        default_factory=list
    )
    data_absent_reason: DataAbsentReason | None = None
    body_site: Identifier | None = Field(
        default=None, description="Measurement site, e.g. 'ear', 'armpit', 'finger'."
    )
    status: ObservationStatus = ObservationStatus.FINAL
    flags: Annotated[
        list[
            Annotated[str, StringConstraints(max_length=b.FLAG_MAX, pattern=model_pattern(b.FLAG))]
        ],
        Field(max_length=MAX_STATUS_FLAGS),
    ] = Field(default_factory=list, description="Measurement status flags (codes.toml).")
    raw: RawData | None = None
    demo: bool = Field(default=False, description="Synthetic data; FHIR gets HTEST.")

    @model_validator(mode="after")
    def _exactly_one_value(self) -> Observation:
        kinds = [
            self.value is not None,
            self.value_boolean is not None,
            self.value_code is not None,
            bool(self.components),
            self.data_absent_reason is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "give exactly one of value, value_boolean, value_code, components or "
                f"data_absent_reason ({sum(kinds)} given)"
            )
        if self.value is not None and self.unit is None:
            raise ValueError("a value needs its UCUM unit")
        if self.unit is not None and self.value is None:
            raise ValueError("unit is only allowed together with value")
        return self


class Batch(_Model):
    """One MQTT message or HTTP request body: observations from one publisher."""

    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    message_id: Identifier
    publisher: PublisherId
    sent: UtcTime
    observations: Annotated[
        list[Observation], Field(min_length=1, max_length=MAX_OBSERVATIONS_PER_BATCH)
    ]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StatusKind(enum.StrEnum):
    BIRTH = "birth"
    HEARTBEAT = "heartbeat"
    DEATH = "death"


class AdapterHealth(_Model):
    name: ShortText
    state: Literal["scanning", "recovering", "down"]
    adverts_per_minute: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    recoveries: Annotated[int, Field(ge=0)] = 0


class DeviceHealth(_Model):
    id: Identifier
    last_seen: UtcTime | None = None
    rssi_dbm: Annotated[int, Field(ge=-127, le=20)] | None = None
    battery_percent: Annotated[int, Field(ge=0, le=100)] | None = None
    connected: bool | None = None


class GatewayStatus(_Model):
    """Birth (retained), heartbeat, and death (the MQTT Last Will) of a gateway."""

    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    publisher: PublisherId
    kind: StatusKind
    online: bool
    time: UtcTime
    software: ShortText | None = None
    uptime_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    outbox_depth: Annotated[int, Field(ge=0)] | None = None
    outbox_dropped: Annotated[int, Field(ge=0)] | None = None
    adapters: Annotated[list[AdapterHealth], Field(max_length=16)] = Field(default_factory=list)
    devices: Annotated[list[DeviceHealth], Field(max_length=MAX_DEVICES_IN_STATUS)] = Field(
        default_factory=list
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RejectionError(_Model):
    path: Annotated[str, StringConstraints(max_length=256)] = Field(
        description="JSON path of the offending value, e.g. $.observations[3].value"
    )
    reason: Text
    observation_id: ShortText | None = None


class Rejection(_Model):
    """The hub's reply on the publisher's error topic when (part of) a message is refused."""

    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    message_id: ShortText | None = Field(description="None when the message had no readable id.")
    publisher: PublisherId
    topic: Text
    time: UtcTime
    accepted: Annotated[int, Field(ge=0)]
    rejected: Annotated[int, Field(ge=0)]
    errors: Annotated[list[RejectionError], Field(min_length=1, max_length=MAX_REJECTION_ERRORS)]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertState(enum.StrEnum):
    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertEvent(_Model):
    """A state change of an alert, published once per change (retained per alert)."""

    schema_: Literal["hjem/1"] = Field(default="hjem/1", alias="schema")
    alert_id: Identifier
    sequence: Annotated[int, Field(ge=0)] = Field(description="Per-alert change counter.")
    rule: Identifier
    resident: Identifier | None = Field(description="The hub's pseudonymous resident id.")
    home: Identifier | None = None
    state: AlertState
    previous_state: AlertState | None = None
    severity: Severity
    time: UtcTime
    actor: ShortText = Field(description="'system' or the user who acted.")
    note: Text | None = None
    summary: Text
    escalation_level: Annotated[int, Field(ge=0)] = 0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def encode(message: BaseModel) -> bytes:
    """The wire form of a message: JSON, aliases (``schema``), no null fields."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()
