"""JSON Schema (draft 2020-12) files generated from the models, committed under schemas/json/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.models import AlertEvent, Batch, GatewayStatus, Observation, Rejection
from schemas.notices import Notice

__all__ = ["JSON_DIR", "MESSAGE_MODELS", "json_schemas", "write_json_schemas"]

JSON_DIR = Path(__file__).resolve().parent / "json"
SCHEMA_ID_BASE = "urn:hjem:schema:v1:"
MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "batch": Batch,
    "observation": Observation,
    "gateway-status": GatewayStatus,
    "rejection": Rejection,
    "notice": Notice,
    "alert-event": AlertEvent,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name (without ``.schema.json``) -> JSON Schema document."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in MESSAGE_MODELS.items():
        body = model.model_json_schema(by_alias=True, mode="validation")
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_ID_BASE}{name}",
            **body,
        }
    return out


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_json_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written
