"""The open Hjem contract: message models, topics, codes, validation, JSON Schema and FHIR.

Everything a vendor or another Hjem part needs to speak to the hub. Import from here::

    from schemas import Batch, Observation, validate_batch, observations_topic
"""

from schemas.codes import HJEM_SYSTEM, LOINC_SYSTEM, MDC_SYSTEM, NPU_SYSTEM, Measure, codes
from schemas.identity import observation_id
from schemas.models import (
    MAX_OBSERVATIONS_PER_BATCH,
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    AlertEvent,
    AlertState,
    Batch,
    Coding,
    Component,
    DataAbsentReason,
    DeviceHealth,
    DeviceInfo,
    GatewayStatus,
    Observation,
    ObservationStatus,
    RawData,
    Rejection,
    RejectionError,
    Severity,
    Source,
    StatusKind,
    encode,
)
from schemas.topics import (
    ParsedTopic,
    TopicError,
    alert_topic,
    errors_topic,
    observations_topic,
    parse_topic,
    status_topic,
)
from schemas.validation import BatchResult, validate_batch

__all__ = [
    "HJEM_SYSTEM",
    "LOINC_SYSTEM",
    "MAX_OBSERVATIONS_PER_BATCH",
    "MAX_PAYLOAD_BYTES",
    "MDC_SYSTEM",
    "NPU_SYSTEM",
    "SCHEMA_VERSION",
    "AlertEvent",
    "AlertState",
    "Batch",
    "BatchResult",
    "Coding",
    "Component",
    "DataAbsentReason",
    "DeviceHealth",
    "DeviceInfo",
    "GatewayStatus",
    "Measure",
    "Observation",
    "ObservationStatus",
    "ParsedTopic",
    "RawData",
    "Rejection",
    "RejectionError",
    "Severity",
    "Source",
    "StatusKind",
    "TopicError",
    "alert_topic",
    "codes",
    "encode",
    "errors_topic",
    "observation_id",
    "observations_topic",
    "parse_topic",
    "status_topic",
    "validate_batch",
]
