"""RACP responses and requests against tests/vectors/racp.json."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from edge import decoders
from edge.decoders import (
    RacpFilter,
    RacpOpcode,
    RacpOperator,
    RacpResponseCode,
    parse_racp,
    racp_request,
)
from tests.edge.decoders.helpers import VECTORS

RACP = json.loads((VECTORS / "racp.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", RACP["responses"], ids=[c["hex"] for c in RACP["responses"]])
def test_response(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    if "error" in case:
        with pytest.raises(getattr(decoders, case["error"])):
            parse_racp(data)
        return
    response = parse_racp(data)
    assert response.count == case.get("count")
    if "request" in case:
        assert response.request_opcode == RacpOpcode(case["request"])
        assert response.response == RacpResponseCode(case["response"])
        assert response.success == (case["response"] in (1, 6))
    else:
        assert response.opcode is RacpOpcode.COUNT_RESPONSE
        assert response.success


@pytest.mark.parametrize("case", RACP["requests"], ids=[c["source"] for c in RACP["requests"]])
def test_request(case: dict[str, Any]) -> None:
    args = (RacpOpcode(case["opcode"]), RacpOperator(case["operator"]))
    kwargs = {"minimum": case.get("minimum"), "maximum": case.get("maximum")}
    if "error" in case:
        with pytest.raises(getattr(decoders, case["error"])):
            racp_request(*args, **kwargs)
        return
    assert racp_request(*args, **kwargs).hex() == case["hex"]


def test_request_by_user_facing_time() -> None:
    data = racp_request(
        RacpOpcode.REPORT_RECORDS,
        RacpOperator.GREATER_OR_EQUAL,
        filter_type=RacpFilter.USER_FACING_TIME,
        minimum=datetime(2024, 11, 28, 10, 15, 30),
    )
    assert data.hex() == "010302e8070b1c0a0f1e"
    with pytest.raises(decoders.InvalidRequestError):
        racp_request(
            RacpOpcode.REPORT_RECORDS,
            RacpOperator.GREATER_OR_EQUAL,
            filter_type=RacpFilter.USER_FACING_TIME,
            minimum=5,
        )
