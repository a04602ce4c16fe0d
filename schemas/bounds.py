"""The patterns and bounds of an observation's fields, in one place.

Two types read an observation: the pydantic models of :mod:`schemas.models` (the contract:
validation wording, JSON Schema, the vendor guide) and the hub's msgspec structs of
:mod:`hub.reading` (what ingest, stores and alerts see). Both take their patterns and bounds
from here, and ``tests/hub/test_reading_contract.py`` compares the two field by field.

A pattern is given without anchors: :func:`model_pattern` anchors it for pydantic (whose Rust
regex engine reads ``$`` as the end of the text) and :func:`struct_pattern` for msgspec (Python's
``re``, where ``$`` would also match before a final newline, so ``\\Z``). ``re.fullmatch`` of
the bare pattern means the same.
"""

from __future__ import annotations

__all__ = [
    "CODE",
    "CODE_MAX",
    "CODE_SYSTEM",
    "CODE_SYSTEM_MAX",
    "DECIMAL",
    "DECIMAL_MAX",
    "DEVICE_ADDRESS",
    "FLAG",
    "FLAG_MAX",
    "HEX_BYTES",
    "HEX_BYTES_MAX",
    "IDENTIFIER",
    "IDENTIFIER_MAX",
    "MAX_CODINGS",
    "MAX_COMPONENTS",
    "MAX_OBSERVATIONS_PER_BATCH",
    "MAX_PAYLOAD_BYTES",
    "MAX_STATUS_FLAGS",
    "PUBLISHER",
    "PUBLISHER_MAX",
    "RAW_FORMAT",
    "RAW_FORMAT_MAX",
    "SEQUENCE_MAX",
    "SHORT_TEXT_MAX",
    "SYSTEM_ID",
    "TEXT_MAX",
    "TIME_WITH_OFFSET",
    "UCUM_UNIT",
    "UCUM_UNIT_MAX",
    "model_pattern",
    "struct_pattern",
]

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_OBSERVATIONS_PER_BATCH = 1000
MAX_CODINGS = 4
"""Codings of an observation or a component: the primary code, then LOINC, NPU..."""
MAX_COMPONENTS = 16
MAX_STATUS_FLAGS = 32
SEQUENCE_MAX = 2**32 - 1

IDENTIFIER = r"[A-Za-z0-9][A-Za-z0-9._:\-]*"
"""An identifier: letters, digits and ``. _ : -``, starting with a letter or digit."""
IDENTIFIER_MAX = 128

PUBLISHER = r"[a-z0-9][a-z0-9_\-]*"
"""A publisher (gateway or vendor) id; it is also the MQTT username and a topic segment."""
PUBLISHER_MAX = 64

TEXT_MAX = 512
SHORT_TEXT_MAX = 128

DECIMAL = r"-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?"
"""A decimal number as a string, so that precision survives: ``"2.00"`` stays ``"2.00"``."""
DECIMAL_MAX = 40

UCUM_UNIT = r"[!-~]+"
"""A UCUM case-sensitive unit code: printable ASCII without spaces."""
UCUM_UNIT_MAX = 32

HEX_BYTES = r"([0-9a-f]{2})*"
"""Lower-case hexadecimal bytes, no separators."""
HEX_BYTES_MAX = 2048

CODE_SYSTEM = r"\S+"
CODE_SYSTEM_MAX = 128
CODE = r"\S+"
CODE_MAX = 64

DEVICE_ADDRESS = r"[0-9A-F]{2}(:[0-9A-F]{2}){5}"
SYSTEM_ID = r"[0-9A-F]{16}"
"""A device's IEEE EUI-64 system id, 16 upper-case hex digits."""

RAW_FORMAT = r"(gatt|adv|vendor):[a-z0-9._\-]+"
RAW_FORMAT_MAX = 64

TIME_WITH_OFFSET = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9]([.,][0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})"
)
"""An RFC 3339 time as the models read it, its UTC offset required (JSON Schema only: the
models parse the time and refuse one without an offset)."""

FLAG = r"[a-z0-9\-]+"
FLAG_MAX = 64


def model_pattern(pattern: str) -> str:
    """The pattern anchored for pydantic (and JSON Schema): ``^...$``."""
    return f"^{pattern}$"


def struct_pattern(pattern: str) -> str:
    """The pattern anchored for msgspec (Python ``re.search``): ``^...\\Z``."""
    return f"^{pattern}\\Z"
