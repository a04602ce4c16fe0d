"""The decoders' measure tables (edge.decoders.emits) against what the decoders really emit."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from typing import Any

from edge.decoders import GATT_DECODERS, MANUFACTURER_DECODERS, SERVICE_DATA_DECODERS, short_uuid
from edge.decoders.emits import (
    GATT_MEASURES,
    MANUFACTURER_MEASURES,
    SERVICE_DATA_MEASURES,
    emitted_measures,
)
from edge.decoders.gatt_glucose import GLUCOSE_TYPES
from schemas.codes import codes
from tests.edge.decoders.helpers import load, run_vector

VECTORS = [v for v in load("gatt.json") + load("adverts.json") if v.get("expect")]


def _row(vector: dict[str, Any]) -> tuple[str, int]:
    """Which table row a vector's decoder is: ("gatt" | "service" | "manufacturer", key)."""
    if "gatt" in vector:
        return "gatt", int(vector["gatt"], 16)
    if vector.get("service_data"):
        (uuid,) = vector["service_data"]
        short = short_uuid(uuid)
        assert short is not None
        return "service", short
    (company,) = vector["manufacturer"]
    return "manufacturer", int(company, 16)


def _seen() -> dict[tuple[str, int], set[str]]:
    """The measures decoded from the vectors (their "expect" keys, which test_vectors.py
    holds the decoders to: spo2 and spo2_slow share a code, so the keys tell them apart)."""
    seen: dict[tuple[str, int], set[str]] = defaultdict(set)
    for vector in VECTORS:
        decoded = run_vector(vector)
        assert len(decoded) == len(vector["expect"]), vector["name"]
        seen[_row(vector)] |= {e["code"] for e in vector["expect"]}
    return seen


TABLES = {
    "gatt": GATT_MEASURES,
    "service": SERVICE_DATA_MEASURES,
    "manufacturer": MANUFACTURER_MEASURES,
}


def test_every_decoder_has_a_row_and_every_row_a_decoder() -> None:
    assert set(GATT_MEASURES) == set(GATT_DECODERS) | {0x2A19}  # battery: the agent reads it
    assert set(SERVICE_DATA_MEASURES) == set(SERVICE_DATA_DECODERS)
    assert set(MANUFACTURER_MEASURES) == set(MANUFACTURER_DECODERS)


def test_each_row_is_exactly_what_its_decoder_emits_on_the_vectors() -> None:
    seen = _seen()
    for (table, key), found in seen.items():
        row = TABLES[table][key]
        assert found <= row, f"{table} 0x{key:04X} emits {sorted(found - row)} not in its row"
        if (table, key) == ("gatt", 0x2A18):  # the vectors hold 4 of the 10 glucose types
            assert row == set(GLUCOSE_TYPES.values())
            continue
        assert row <= found, f"{table} 0x{key:04X}: {sorted(row - found)} in its row, never seen"
    assert {("gatt", k) for k in GATT_DECODERS} <= set(seen)


def test_every_emitted_measure_is_in_the_codes_table() -> None:
    table = codes()
    assert all(key in table for key in emitted_measures())
    assert {"button", "spo2", "body_temperature", "motion", "battery"} <= emitted_measures()
    assert not {"panic", "fall", "respiration_rate"} & emitted_measures()


def test_the_tables_import_without_cryptography_as_on_a_hub() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('cryptography', 'bleak', 'bumble'):\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from edge.decoders.emits import emitted_measures\n"
        "print(len(emitted_measures()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len(emitted_measures())
