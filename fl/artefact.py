"""The global model as a versioned artefact, and a hub's decision to use it or not.

An artefact is one JSON file: format, version, the feature names it expects, parameters,
how it was trained (rounds, organisations per round, ε and δ, configuration) and its
evaluation. A hub keeps artefacts on its :class:`ModelShelf`; a new version is only
*offered* until a person accepts it, a version can be refused, and every decision is
appended to the shelf's audit file. Scoring uses the accepted version only: a model is
never updated silently.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fl.features import FEATURES
from fl.model import N_PARAMS

__all__ = ["FORMAT", "Artefact", "ModelShelf", "make_artefact"]

FORMAT = "hjem-fl-model/1"


@dataclass(frozen=True)
class Artefact:
    version: str
    params: np.ndarray
    training: dict[str, Any]
    evaluation: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Artefact:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a model artefact ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{path}: format is not {FORMAT}")
        if doc.get("features") != list(FEATURES):
            raise ValueError(f"{path}: the model expects other features than this hub computes")
        params = np.asarray(doc.get("params"), dtype=float)
        if params.shape != (N_PARAMS,) or not np.isfinite(params).all():
            raise ValueError(f"{path}: parameters must be {N_PARAMS} finite numbers")
        if doc.get("version") != _version(params, doc.get("training", {})):
            raise ValueError(f"{path}: version does not match its content (altered?)")
        return cls(doc["version"], params, doc["training"], doc.get("evaluation", {}))

    def save(self, path: Path) -> None:
        doc = {
            "format": FORMAT,
            "version": self.version,
            "features": list(FEATURES),
            "params": [float(v) for v in self.params],
            "training": self.training,
            "evaluation": self.evaluation,
        }
        path.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    raise TypeError(f"{type(value).__name__} is not JSON")


def _version(params: np.ndarray, training: dict[str, Any]) -> str:
    blob = json.dumps([[float(v) for v in params], training], sort_keys=True, default=str)
    return "m-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def make_artefact(
    params: np.ndarray, training: dict[str, Any], evaluation: dict[str, Any]
) -> Artefact:
    """An artefact whose version is derived from its parameters and training metadata."""
    clean = json.loads(json.dumps(training, default=str).replace("Infinity", '"inf"'))
    return Artefact(_version(params, clean), np.asarray(params, float), clean, evaluation)


class ModelShelf:
    """A hub's models: ``offered/<version>.json``, the accepted version, and ``audit.jsonl``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "offered").mkdir(parents=True, exist_ok=True)

    def _audit(self, action: str, version: str, actor: str, reason: str = "") -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "action": action, "version": version,
                 "actor": actor, "reason": reason}  # fmt: skip
        with (self.root / "audit.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def decisions(self) -> list[dict[str, str]]:
        path = self.root / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def offer(self, path: Path, actor: str) -> Artefact:
        """Put a published artefact on the shelf (checked); it is not used until accepted."""
        art = Artefact.load(path)
        art.save(self.root / "offered" / f"{art.version}.json")
        self._audit("offered", art.version, actor)
        return art

    def _offered(self, version: str) -> Artefact:
        path = self.root / "offered" / f"{version}.json"
        if not path.exists():
            raise ValueError(f"model version {version!r} has not been offered to this hub")
        return Artefact.load(path)

    def accept(self, version: str, actor: str) -> Artefact:
        art = self._offered(version)
        if any(d["action"] == "refused" and d["version"] == version for d in self.decisions()):
            raise ValueError(f"model version {version} was refused here; offer a new version")
        (self.root / "accepted").write_text(version + "\n")
        self._audit("accepted", version, actor)
        return art

    def refuse(self, version: str, actor: str, reason: str) -> None:
        self._offered(version)
        if self.accepted_version() == version:
            (self.root / "accepted").unlink()
        self._audit("refused", version, actor, reason)

    def accepted_version(self) -> str | None:
        path = self.root / "accepted"
        return path.read_text().strip() if path.exists() else None

    def active(self) -> Artefact | None:
        """The accepted model, or None: then the hub scores no one."""
        version = self.accepted_version()
        return self._offered(version) if version else None
