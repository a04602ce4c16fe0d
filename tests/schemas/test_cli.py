from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


def hjem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hjem", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_exit_codes_and_one_line_per_error(tmp_path: Path) -> None:
    ok = hjem("schema", "validate", str(EXAMPLES / "valid" / "blood-pressure.json"))
    assert ok.returncode == 0, ok.stderr
    assert "valid (2 observations)" in ok.stdout
    bad = hjem("schema", "validate", str(EXAMPLES / "invalid" / "missing-message-id.json"))
    assert bad.returncode == 1
    lines = bad.stdout.strip().splitlines()
    assert lines[0].endswith("$.message_id: Field required")
    missing = hjem("schema", "validate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_export_writes_all_schemas(tmp_path: Path) -> None:
    out = hjem("schema", "export", str(tmp_path))
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "batch.schema.json" in names
    assert "observation.schema.json" in names
    assert json.loads((tmp_path / "batch.schema.json").read_text())["$schema"].endswith(
        "2020-12/schema"
    )


def test_fhir_prints_a_bundle() -> None:
    out = hjem(
        "schema", "fhir", str(EXAMPLES / "valid" / "blood-pressure.json"), "--subject", "Patient/x"
    )
    assert out.returncode == 0, out.stderr
    bundle = Bundle.model_validate_json(out.stdout)
    assert bundle.entry is not None
    assert len(bundle.entry) == 4  # the gateway (publisher), the cuff, two readings
    bad = hjem("schema", "fhir", str(EXAMPLES / "invalid" / "wrong-unit.json"))
    assert bad.returncode == 1
    assert "not valid" in bad.stderr
