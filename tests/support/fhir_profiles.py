"""The PHD IG profiles and examples for the FHIR tests (see tests/fhir_ig/README.md)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from schemas.fhir_profiles import Profile, ProfileChecker

IG_RULES = Path(__file__).resolve().parents[1] / "fhir_ig"
IG_COMMIT = "5af8412f26a40456084790f8d23a822f04f469ae"
_CANDIDATES = (IG_RULES / "phd", IG_RULES.parents[2] / "shared" / "fhir" / "phd")


@cache
def checker() -> ProfileChecker:
    """A checker with Hjem's transcription of the IG profile rules and the local value sets."""
    profiles = [
        Profile.from_structure_definition(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(IG_RULES.glob("StructureDefinition-*.json"))
    ]
    raw = json.loads((IG_RULES / "value-sets.json").read_text(encoding="utf-8"))
    value_sets = {
        url: frozenset((s, c) for s, c in members)
        for url, members in raw.items()
        if not url.startswith("_")
    }
    return ProfileChecker(profiles, value_sets)


def ig_examples_dir() -> Path | None:
    """``input/examples`` of a local HL7/phd copy: $HJEM_PHD_IG, tests/fhir_ig/phd, or
    ``shared/fhir/phd`` beside the repository; None when there is none."""
    given = os.environ.get("HJEM_PHD_IG")
    for root in ((Path(given),) if given else ()) + _CANDIDATES:
        if (root / "input" / "examples").is_dir():
            return root / "input" / "examples"
    return None


def ig_example(name: str) -> dict[str, Any]:
    folder = ig_examples_dir()
    assert folder is not None
    data: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return data
