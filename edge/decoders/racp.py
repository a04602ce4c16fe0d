"""Record Access Control Point 0x2A52 (glucose and CGM record transfer): requests, responses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from edge.decoders.context import check_length
from edge.decoders.errors import InvalidRequestError, InvalidValueError, TooShortError

__all__ = [
    "RacpFilter",
    "RacpOpcode",
    "RacpOperator",
    "RacpResponse",
    "RacpResponseCode",
    "parse_racp",
    "racp_request",
]

_FMT = "gatt:2a52"


class RacpOpcode(enum.IntEnum):
    REPORT_RECORDS = 1
    DELETE_RECORDS = 2
    ABORT = 3
    REPORT_COUNT = 4
    COUNT_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(enum.IntEnum):
    NULL = 0
    ALL = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST = 5
    LAST = 6


class RacpFilter(enum.IntEnum):
    SEQUENCE = 1
    """Glucose: sequence number; CGM: time offset (both uint16)."""
    USER_FACING_TIME = 2
    """A DateTime (glucose only)."""


class RacpResponseCode(enum.IntEnum):
    SUCCESS = 1
    OPCODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """A RACP indication: a record count, or the outcome of a request."""

    opcode: RacpOpcode
    count: int | None = None
    request_opcode: RacpOpcode | None = None
    response: RacpResponseCode | None = None

    @property
    def success(self) -> bool:
        """True for a count, or for 'success' (and 'no records found', which is not a fault)."""
        return self.opcode is RacpOpcode.COUNT_RESPONSE or self.response in (
            RacpResponseCode.SUCCESS,
            RacpResponseCode.NO_RECORDS_FOUND,
        )


def parse_racp(data: bytes) -> RacpResponse:
    """A RACP indication (opcode 5 count, or 6 response code); anything else is an error."""
    if len(data) < 2:
        raise TooShortError(_FMT, 2, len(data), "opcode and operator")
    opcode, operator = data[0], data[1]
    if opcode not in (RacpOpcode.COUNT_RESPONSE, RacpOpcode.RESPONSE_CODE):
        raise InvalidValueError(_FMT, "opcode", opcode, "not a response opcode (5 or 6)")
    if operator != RacpOperator.NULL:
        raise InvalidValueError(_FMT, "operator", operator, "a response carries the null operator")
    check_length(_FMT, data, 4)
    if opcode == RacpOpcode.COUNT_RESPONSE:
        return RacpResponse(RacpOpcode.COUNT_RESPONSE, count=int.from_bytes(data[2:4], "little"))
    request, code = data[2], data[3]
    if not RacpOpcode.REPORT_RECORDS <= request <= RacpOpcode.REPORT_COUNT:
        raise InvalidValueError(_FMT, "request opcode", request, "not a request opcode (1-4)")
    if not RacpResponseCode.SUCCESS <= code <= RacpResponseCode.OPERAND_NOT_SUPPORTED:
        raise InvalidValueError(_FMT, "response code", code, "reserved")
    return RacpResponse(
        RacpOpcode.RESPONSE_CODE,
        request_opcode=RacpOpcode(request),
        response=RacpResponseCode(code),
    )


def _operand(filter_type: RacpFilter, value: int | datetime | None, name: str) -> bytes:
    if value is None:
        raise InvalidRequestError(_FMT, f"this operator needs a {name} value")
    if filter_type is RacpFilter.SEQUENCE:
        if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise InvalidRequestError(_FMT, f"{name} must be an integer 0-65535, got {value!r}")
        return value.to_bytes(2, "little")
    if not isinstance(value, datetime):
        raise InvalidRequestError(_FMT, f"{name} must be a datetime, got {value!r}")
    return value.year.to_bytes(2, "little") + bytes(
        (value.month, value.day, value.hour, value.minute, value.second)
    )


def racp_request(
    opcode: RacpOpcode,
    operator: RacpOperator = RacpOperator.NULL,
    *,
    filter_type: RacpFilter = RacpFilter.SEQUENCE,
    minimum: int | datetime | None = None,
    maximum: int | datetime | None = None,
) -> bytes:
    """The bytes to write to the RACP, e.g. ``racp_request(REPORT_RECORDS, ALL)``."""
    if opcode in (RacpOpcode.COUNT_RESPONSE, RacpOpcode.RESPONSE_CODE):
        raise InvalidRequestError(_FMT, f"{opcode.name} is a response, not a request")
    if opcode is RacpOpcode.ABORT:
        if operator is not RacpOperator.NULL:
            raise InvalidRequestError(_FMT, "ABORT takes the null operator")
        return bytes((opcode, operator))
    if operator is RacpOperator.NULL:
        raise InvalidRequestError(_FMT, f"{opcode.name} needs an operator")
    head = bytes((opcode, operator))
    if operator in (RacpOperator.ALL, RacpOperator.FIRST, RacpOperator.LAST):
        return head
    if operator is RacpOperator.LESS_OR_EQUAL:
        return head + bytes((filter_type,)) + _operand(filter_type, maximum, "maximum")
    if operator is RacpOperator.GREATER_OR_EQUAL:
        return head + bytes((filter_type,)) + _operand(filter_type, minimum, "minimum")
    low = _operand(filter_type, minimum, "minimum")
    high = _operand(filter_type, maximum, "maximum")
    if minimum is not None and maximum is not None and minimum > maximum:  # type: ignore[operator]
        raise InvalidRequestError(_FMT, f"range minimum {minimum!r} exceeds maximum {maximum!r}")
    return head + bytes((filter_type,)) + low + high
