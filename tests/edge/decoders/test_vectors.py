"""The data-file vectors in tests/vectors/: hex in, expected observations (or error) out."""

from __future__ import annotations

from typing import Any

import pytest

from edge import decoders
from tests.edge.decoders.helpers import assert_valid, check, load, run_vector

GATT = load("gatt.json")
ADVERTS = load("adverts.json")


def _run(vector: dict[str, Any]) -> None:
    if "error" in vector:
        error = getattr(decoders, vector["error"])
        with pytest.raises(error) as info:
            run_vector(vector)
        assert isinstance(info.value, decoders.DecodeError)
        assert str(info.value).startswith(info.value.format + ": ")
        return
    observations = run_vector(vector)
    expected = vector["expect"]
    assert [o.code[0].code for o in observations] == [
        decoders_primary(e["code"]) for e in expected
    ], vector["name"]
    for index, (obs, exp) in enumerate(zip(observations, expected, strict=True)):
        check(obs, exp, f"{vector['name']} [{index}]")
    assert_valid(observations)
    assert len({o.id for o in observations}) == len(observations), "ids must be distinct"


def decoders_primary(key: str) -> str:
    from schemas.codes import codes

    return codes()[key].primary.code


@pytest.mark.parametrize("vector", GATT, ids=[v["name"] for v in GATT])
def test_gatt_vector(vector: dict[str, Any]) -> None:
    _run(vector)


@pytest.mark.parametrize("vector", ADVERTS, ids=[v["name"] for v in ADVERTS])
def test_advert_vector(vector: dict[str, Any]) -> None:
    _run(vector)


def test_raw_bytes_are_kept() -> None:
    vector = next(v for v in GATT if v["name"] == "BP all fields")
    for obs in run_vector(vector):
        assert obs.raw is not None
        assert obs.raw.format == "gatt:2a35"
        assert obs.raw.data == vector["hex"]
