"""Write a cohort directory: observations (JSON Lines, Parquet), FHIR Bundles, labels, registry.

Layout of ``DIR``::

    observations.jsonl     one open-schema Observation per line, per resident in time order
    observations.parquet   the same readings as columns (pyarrow)
    fhir/<resident>.json   one FHIR R4 transaction Bundle per resident (schemas.fhir)
    labels.jsonl           ground truth: residents, episodes, falls, false alarms, faults
    registry.json          organisations, homes, gateways, vendors, residents, devices,
                           assignments and bindings over time
    params.json            the population parameters used
    manifest.json          what was asked for and what was written
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from synth import frame as fr
from synth.cohort import CohortSpec, calendar, chunks
from synth.labels import chunk_labels, chunk_registry
from synth.params import Params
from synth.render import Rendered, by_resident, render_chunk

__all__ = ["FORMATS", "Written", "write_cohort"]

FORMATS = ("jsonl", "parquet", "fhir", "labels")


@dataclass
class Written:
    observations: int = 0
    residents: int = 0
    labels: int = 0
    files: list[str] = field(default_factory=list)


def _parquet_table(rendered: Rendered) -> Any:
    import pyarrow as pa

    r = rendered.readings
    measure = np.array([fr.READING_KINDS[k][0] for k in range(len(fr.READING_KINDS))])[r["rk"]]
    code = np.where(
        r["rk"] == fr.FALL, "fall", np.where(r["rk"] == fr.POSSIBLE_FALL, "possible_fall", "")
    )
    return pa.table(
        {
            "id": pa.array(rendered.ids, pa.string()),
            "publisher": pa.array(rendered.publishers, pa.string()),
            "device": pa.array(rendered.devices, pa.string()),
            "resident": pa.array(rendered.residents, pa.string()),
            "measure": pa.array(measure.tolist(), pa.string()),
            "effective": pa.array(r["t"].astype("datetime64[s]"), pa.timestamp("s", tz="UTC")),
            "value": pa.array(r["v1"], pa.float64(), from_pandas=True),
            "value2": pa.array(r["v2"], pa.float64(), from_pandas=True),
            "value3": pa.array(r["v3"], pa.float64(), from_pandas=True),
            "value_boolean": pa.array(np.isin(r["rk"], (fr.MOTION, fr.DOOR)), pa.bool_()),
            "value_code": pa.array(code.tolist(), pa.string()),
            "absent": pa.array(r["rk"] == fr.BP_ERROR, pa.bool_()),
            "artefact": pa.array(r["artefact"], pa.bool_()),
        }
    )


def _write_fhir(directory: Path, rendered: Rendered) -> None:
    from schemas.fhir import bundle_json, to_bundle
    from schemas.models import Observation

    for resident, lines in by_resident(rendered):
        observations = [Observation.model_validate_json(line) for line in lines]
        bundle = to_bundle(observations, subject=f"Patient/{resident}")
        (directory / f"{resident}.json").write_text(bundle_json(bundle), encoding="utf-8")


def _merge(
    registry: dict[str, list[dict[str, Any]]], part: dict[str, list[dict[str, Any]]]
) -> None:
    for key, rows in part.items():
        registry.setdefault(key, []).extend(rows)


def _registry_head(spec: CohortSpec) -> dict[str, list[dict[str, Any]]]:
    orgs = range(1, spec.organisations + 1)
    return {
        "organisations": [{"id": f"org-{k}", "name": f"Synthetic municipality {k}"} for k in orgs],
        "teams": [
            {"id": f"team-{k}", "organisation": f"org-{k}", "name": f"Home care {k}"} for k in orgs
        ],
        "vendors": [{"id": f"vendor-{k}", "organisation": f"org-{k}"} for k in orgs],
    }


def write_cohort(
    spec: CohortSpec, params: Params, out: Path, formats: tuple[str, ...] = FORMATS
) -> Written:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)}; choose from {FORMATS}")
    out.mkdir(parents=True, exist_ok=True)
    if "fhir" in formats:
        (out / "fhir").mkdir(exist_ok=True)
    written = Written()
    registry = _registry_head(spec)
    t0 = int(calendar(spec.start, 1).day_utc[0])
    jsonl: IO[str] | None = None
    labels: IO[str] | None = None
    parquet: Any = None
    try:
        jsonl = (
            (out / "observations.jsonl").open("w", encoding="utf-8") if "jsonl" in formats else None
        )
        labels = (out / "labels.jsonl").open("w", encoding="utf-8") if "labels" in formats else None
        for chunk in chunks(spec, params):
            rendered = render_chunk(chunk)
            written.observations += len(rendered.lines)
            written.residents += chunk.pop.n
            if jsonl is not None:
                jsonl.write("".join(line + "\n" for line in rendered.lines))
            if "parquet" in formats:
                parquet = _append_parquet(parquet, out / "observations.parquet", rendered)
            if "fhir" in formats:
                _write_fhir(out / "fhir", rendered)
            if labels is not None:
                rows = chunk_labels(chunk, t0)
                written.labels += len(rows)
                labels.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
            _merge(registry, chunk_registry(chunk))
    finally:
        for handle in (jsonl, labels):
            if handle is not None:
                handle.close()
        if parquet is not None:
            parquet.close()
    _finish(out, spec=spec, params=params, registry=registry, written=written, formats=formats)
    return written


def _append_parquet(writer: Any, path: Path, rendered: Rendered) -> Any:
    import pyarrow.parquet as pq

    table = _parquet_table(rendered)
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema, compression="zstd")
    writer.write_table(table)
    return writer


def _finish(
    out: Path,
    *,
    spec: CohortSpec,
    params: Params,
    registry: dict[str, list[dict[str, Any]]],
    written: Written,
    formats: tuple[str, ...],
) -> None:
    (out / "registry.json").write_text(json.dumps(registry, indent=1) + "\n", encoding="utf-8")
    (out / "params.json").write_text(params.to_json(), encoding="utf-8")
    manifest = {
        "generator": "hjem synth cohort",
        "residents": spec.residents,
        "days": spec.days,
        "organisations": spec.organisations,
        "seed": spec.seed,
        "start": spec.start.isoformat(),
        "formats": list(formats),
        "observations": written.observations,
        "labels": written.labels,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
