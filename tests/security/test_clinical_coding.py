"""Issue 14, "Decoding and codes": codes that agree with their units, glucose sample types,
status that removes every number of an invalid record, SpO2 codings.

Sources (named per check below): Bluetooth SIG GATT Specification Supplement (Glucose
Measurement Type-Sample Location, PLX Measurement Status, CGM Sensor Status Annunciation);
IEEE 11073-10101 term codes (partition 2 * 65536 + term; MDC_CONC_GLU_UNDETERMINED_WHOLEBLOOD
= 29292, _PLASMA = 29296 as in the HL7 PHD IG example glucose-observation.json); US Core
Pulse Oximetry (2708-6 with 59408-5); HL7 CGM IG (99504-3 mg/dL, 105272-9 mmol/L); NPU as
published by MedCom and HL7 Denmark (NPU22089 'P(kB)—Glucose; stofk. = ? mmol/L', NPU03804
'... masse = ? kg', NPU03794 '... højde = ? m', NPU08676 '... temp. = ? °C', DNK05472
'... tryk = ? mmHg').
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.decoders import decode_gatt
from edge.decoders.errors import InvalidValueError
from hub.ingest.fastpath import accept
from schemas.codes import HJEM_SYSTEM, LOINC_SYSTEM, MDC_SYSTEM, NPU_SYSTEM, CodesTable, codes
from schemas.models import Coding, Observation
from schemas.validation import validate_batch
from tests.edge.decoders.helpers import NOW, context, load, run_vector

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _codes_of(obs: Observation) -> list[tuple[list[Coding], str | None]]:
    """(codings, unit) of an observation's value and of each component with a value."""
    out = [(obs.code, obs.unit)] if obs.value is not None else []
    out += [(c.code, c.unit) for c in obs.components if c.value is not None]
    return out


def _all_decoded() -> list[tuple[str, Observation]]:
    decoded = []
    for name in ("gatt.json", "adverts.json"):
        for vector in load(name):
            if "error" not in vector:
                decoded += [(vector["name"], obs) for obs in run_vector(vector)]
    return decoded


def test_every_decoder_vector_sends_only_code_unit_pairs_the_table_allows() -> None:
    """Every (code, unit) of every decoded vector is listed in codes.toml; none unknown."""
    table = codes()
    seen: set[tuple[str, str, str | None]] = set()
    for name, obs in _all_decoded():
        for codings, unit in _codes_of(obs):
            for coding in codings:
                allowed = table.units_of(coding.system, coding.code)
                assert allowed is not None, f"{name}: {coding.code} is not in codes.toml"
                assert unit in allowed, f"{name}: {coding.code} with {unit} ({sorted(allowed)})"
                seen.add((coding.system, coding.code, unit))
    # the vectors do exercise the unit-dependent codes
    assert (LOINC_SYSTEM, "2339-0", "mg/dL") in seen
    assert (LOINC_SYSTEM, "15074-8", "mmol/L") in seen
    assert (MDC_SYSTEM, "188736", "[lb_av]") in seen


@pytest.mark.parametrize(
    ("system", "code", "units"),
    [
        (LOINC_SYSTEM, "2339-0", {"mg/dL"}),  # Glucose [Mass/volume] in Blood
        (LOINC_SYSTEM, "2345-7", {"mg/dL"}),  # Glucose [Mass/volume] in Serum or Plasma
        (LOINC_SYSTEM, "15074-8", {"mmol/L"}),
        (LOINC_SYSTEM, "14749-6", {"mmol/L"}),
        (LOINC_SYSTEM, "99504-3", {"mg/dL"}),
        (LOINC_SYSTEM, "105272-9", {"mmol/L"}),
        (NPU_SYSTEM, "NPU22089", {"mmol/L"}),
        (NPU_SYSTEM, "NPU03804", {"kg"}),
        (NPU_SYSTEM, "NPU03794", {"m"}),
        (NPU_SYSTEM, "NPU08676", {"Cel"}),
        (NPU_SYSTEM, "DNK05472", {"mm[Hg]"}),
        (NPU_SYSTEM, "DNK05473", {"mm[Hg]"}),
        (LOINC_SYSTEM, "8310-5", {"Cel", "[degF]"}),  # body temperature: any temperature
    ],
)
def test_codes_list_the_units_their_definition_fixes(
    system: str, code: str, units: set[str]
) -> None:
    assert codes().units_of(system, code) == frozenset(units)


# flags 0x01 imperial / kPa / °F / mol per L; every combination of the unit flags
_UNIT_CASES = [
    ("2a1c", "01" + "da0300ff"),  # 98.6 °F
    ("2a1c", "00" + "6c0100ff"),
    ("2a9d", "01" + "a032"),
    ("2a9d", "00" + "a032"),
    ("2a9d", "09" + "a032" + "f000" + "b004"),
    ("2a9d", "08" + "a032" + "f000" + "1a06"),
    ("2a35", "01" + "0f00" + "0a00" + "0c00"),
    ("2a35", "00" + "7800" + "5000" + "5a00"),
]


@pytest.mark.parametrize(
    ("gatt", "hex_", "type_", "mol"),
    [
        *(("2a18", None, t, m) for t, m in itertools.product(range(1, 11), (False, True))),
        *((g, h, None, None) for g, h in _UNIT_CASES),
    ],
)
def test_unit_flags_never_send_a_code_that_disallows_the_unit(
    gatt: str, hex_: str | None, type_: int | None, mol: bool | None
) -> None:
    """Glucose of every sample type in mg/dL and mmol/L, weight and height in pounds and
    inches, temperature in °F, pressure in kPa: only codes that allow the unit go out."""
    if hex_ is None:
        value = "37c0" if mol else "78b0"  # 5.5 mmol/L or 120 mg/dL
        flags = "06" if mol else "02"
        hex_ = flags + "0100e8070b1c0a0f1e" + value + f"{0x10 | int(type_ or 0):02x}"
    table = codes()
    for obs in decode_gatt(int(gatt, 16), bytes.fromhex(hex_), context()):
        for codings, unit in _codes_of(obs):
            for coding in codings:
                allowed = table.units_of(coding.system, coding.code)
                assert allowed is not None, (gatt, hex_, coding)
                assert unit in allowed, (gatt, hex_, coding, unit)


def test_capillary_whole_blood_never_carries_the_capillary_plasma_npu() -> None:
    """NPU22089 is plasma from capillary blood (MedCom): not for Glucose Type 1."""
    for mol in ("02", "06"):
        value = "37c0" if mol == "06" else "78b0"
        hex_ = mol + "0100e8070b1c0a0f1e" + value + "11"
        (obs,) = decode_gatt(0x2A18, bytes.fromhex(hex_), context())
        assert "NPU22089" not in {c.code for c in obs.code}
    assert "NPU22089" in {c.code for c in codes()["glucose_capillary_plasma"].codings}


def test_glucose_type_7_is_undetermined_whole_blood() -> None:
    """`hjem decode --gatt 2A18 030300e8070b1c0a0f1e000078b0f7`: MDC 160364, not 160368."""
    hex_ = "030300e8070b1c0a0f1e000078b0f7"
    (obs,) = decode_gatt(0x2A18, bytes.fromhex(hex_), context())
    assert obs.code[0] == Coding(
        system=MDC_SYSTEM, code="160364", display="Glucose, undetermined whole blood"
    )
    (plasma,) = decode_gatt(0x2A18, bytes.fromhex(hex_[:-1] + "8"), context())
    assert plasma.code[0].code == "160368"


@pytest.mark.parametrize("sample_type", [0, 11, 12, 13, 14, 15])
def test_reserved_glucose_types_are_refused_naming_field_and_value(sample_type: int) -> None:
    hex_ = f"030300e8070b1c0a0f1e000078b0f{sample_type:x}"
    with pytest.raises(InvalidValueError) as caught:
        decode_gatt(0x2A18, bytes.fromhex(hex_), context())
    assert f"invalid glucose type {sample_type}" in str(caught.value)
    assert caught.value.field == "glucose type"


def test_invalid_plx_record_has_no_number_at_all() -> None:
    """`--gatt 2A5E 0a61003e000080ebe0`: invalid-measurement covers the perfusion index."""
    out = decode_gatt(0x2A5E, bytes.fromhex("0a61003e000080ebe0"), context())
    assert [o.code[0].code for o in out] == ["150456", "149530", "150448"]
    assert all(o.value is None and o.data_absent_reason == "error" for o in out)


def test_cgm_sensor_malfunction_record_has_no_trend() -> None:
    """`--gatt 2AA7 098178000f0008f1ff`: sensor malfunction: no glucose and no trend."""
    out = decode_gatt(0x2AA7, bytes.fromhex("098178000f0008f1ff"), context())
    assert [o.code[0].code for o in out] == ["160212", "glucose_trend"]
    assert all(o.value is None and o.data_absent_reason == "error" for o in out)


def test_interstitial_glucose_carries_the_cgm_ig_loinc() -> None:
    """HL7 CGM IG: 99504-3 (mass) and 105272-9 (moles) in interstitial fluid, never 2339-0."""
    (mass,) = decode_gatt(0x2AA7, bytes.fromhex("060078000500"), context())
    assert [c.code for c in mass.code] == ["160212", "99504-3"]
    (moles,) = decode_gatt(0x2A18, bytes.fromhex("060200e8070b1c0a0f1e37c019"), context())
    assert [c.code for c in moles.code] == ["160212", "105272-9"]


def test_spo2_carries_both_pulse_oximetry_loincs() -> None:
    (spo2, _pulse) = decode_gatt(0x2A5E, bytes.fromhex("0062004800"), context())
    assert [c.code for c in spo2.code] == ["150456", "2708-6", "59408-5", "NPU03011"]


def test_fast_and_slow_spo2_are_told_apart_by_their_first_coding() -> None:
    """`--gatt 2A5F 016100480058004800`: normal 97 %, fast 88 % carry different first codes;
    both still carry MDC 150456 and the LOINC codes; the modality is MDC_MODALITY_FAST."""
    out = decode_gatt(0x2A5F, bytes.fromhex("016100480058004800"), context())
    spo2, fast = out[0], out[2]
    assert spo2.code[0] == codes()["spo2"].primary
    assert fast.code[0] == Coding(
        system=HJEM_SYSTEM, code="spo2_fast", display="Oxygen saturation, fast response"
    )
    assert {"150456", "2708-6", "59408-5"} <= {c.code for c in fast.code}
    assert codes()["spo2_fast"].supplemental == "150580"
    assert codes()["spo2_slow"].supplemental == "150584"
    assert out[3].code[0].code == "pulse_rate_oximeter_fast"


def test_no_code_is_left_unverified() -> None:
    text = (Path(__file__).resolve().parents[2] / "schemas" / "codes.toml").read_text()
    assert "verify = true" not in text
    with pytest.raises(ValueError, match="verify"):
        CodesTable.from_toml(
            '[measure.x]\ndisplay = "x"\nkind = "quantity"\nunits = ["%"]\nverify = true\n'
        )
    for key in ("perfusion_index", "bmi", "glucose_undetermined"):
        assert codes()[key].mdc in {"150448", "188752", "160368"}


def test_a_code_without_its_units_is_refused_by_the_table() -> None:
    with pytest.raises(ValueError, match="must list the units"):
        CodesTable.from_toml(
            '[measure.x]\ndisplay = "x"\nkind = "quantity"\nunits = ["%"]\nloinc = "1-8"\n'
        )


def _vendor_batch(codings: list[dict[str, str]], value: str, unit: str) -> bytes:
    obs: dict[str, Any] = {
        "id": "v1",
        "source": {"publisher": "vendor-a", "device": {"id": "dev-9"}},
        "code": codings,
        "effective": "2026-11-28T11:00:00Z",
        "value": value,
        "unit": unit,
    }
    batch = {
        "schema": "hjem/1",
        "message_id": "m1",
        "publisher": "vendor-a",
        "sent": "2026-11-28T11:00:00Z",
        "observations": [obs],
    }
    return json.dumps(batch).encode()


_NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("codings", "value", "unit", "named"),
    [
        ([{"system": LOINC_SYSTEM, "code": "2339-0"}], "5.5", "mmol/L", "LOINC code 2339-0"),
        (
            [{"system": MDC_SYSTEM, "code": "160184"}, {"system": LOINC_SYSTEM, "code": "2345-7"}],
            "5.5",
            "mmol/L",
            "LOINC code 2345-7",
        ),
        (
            [{"system": MDC_SYSTEM, "code": "188736"}, {"system": NPU_SYSTEM, "code": "NPU03804"}],
            "154",
            "[lb_av]",
            "NPU code NPU03804",
        ),
        (
            [{"system": MDC_SYSTEM, "code": "150364"}, {"system": NPU_SYSTEM, "code": "NPU08676"}],
            "98.6",
            "[degF]",
            "NPU code NPU08676",
        ),
        ([{"system": NPU_SYSTEM, "code": "NPU22089"}], "120", "mg/dL", "NPU code NPU22089"),
    ],
)
def test_vendor_code_unit_mismatch_is_refused_on_both_paths(
    codings: list[dict[str, str]], value: str, unit: str, named: str
) -> None:
    payload = _vendor_batch(codings, value, unit)
    result = validate_batch(payload, now=_NOW, expected_publisher="vendor-a")
    assert not result.accepted
    (error,) = result.errors
    assert named in error.reason, error.reason
    assert repr(unit) in error.reason, error.reason
    assert error.path.startswith("$.observations[0].code[")
    assert accept(payload, now=_NOW, expected_publisher="vendor-a", table=codes()) is None


def test_matching_vendor_code_and_unit_is_accepted_on_both_paths() -> None:
    payload = _vendor_batch([{"system": LOINC_SYSTEM, "code": "15074-8"}], "5.5", "mmol/L")
    assert len(validate_batch(payload, now=_NOW, expected_publisher="vendor-a").accepted) == 1
    assert accept(payload, now=_NOW, expected_publisher="vendor-a", table=codes()) is not None


def test_now_constant_matches_helpers() -> None:
    assert NOW == _NOW
