"""docs/fhir-push.md: its configuration example is a valid hub configuration as written."""

from __future__ import annotations

import re
from pathlib import Path

from hub.config import load_settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "fhir-push.md"


def test_the_configuration_example_loads(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1
    config = tmp_path / "hub.toml"
    config.write_text(blocks[0], encoding="utf-8")
    recipients = load_settings(config).fhir_push.recipients
    assert [r.name for r in recipients] == ["rigshospitalet", "gp-clinic"]
    assert recipients[1].auth.kind == "smart"
    assert recipients[1].backoff_max_s == 300
