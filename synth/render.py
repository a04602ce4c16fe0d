"""Readings -> open-schema observations (JSON Lines), built from the schema's own models.

For each reading kind one observation is built with :func:`schemas.builders.make_observation`
(placeholders for id, publisher, device, time and values) and encoded with
:func:`schemas.models.encode`; every reading is that encoding with its own values put in. A
test checks, line by line, that the result is what the models encode for the same reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np

from schemas.builders import component, make_observation
from schemas.codes import codes
from schemas.identity import observation_id
from schemas.models import DataAbsentReason, DeviceInfo, Source, encode
from synth import frame as fr
from synth.cohort import Chunk
from synth.population import KINDS

__all__ = ["Rendered", "publisher_of", "render_chunk"]

_SENTINEL = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
_VALUES = ("111.111", "222.222", "333.333")
_DECIMALS = {
    fr.BP: (0, 0, 1),
    fr.PULSE_BP: (0,),
    fr.SPO2: (0,),
    fr.PULSE_OX: (0,),
    fr.TEMPERATURE: (1,),
    fr.WEIGHT: (1,),
    fr.GLUCOSE: (1,),
}


def publisher_of(kind: int, resident: int, organisation: int) -> str:
    """Gateway of the resident's home, or the organisation's vendor for vendor devices."""
    if KINDS[kind][2] == "vendor":
        return f"vendor-{organisation + 1}"
    return f"gw-{resident:06d}"


def _observation_fields(rk: int) -> dict[str, object]:
    if rk == fr.BP:
        keys = ("blood_pressure_systolic", "blood_pressure_diastolic", "blood_pressure_mean")
        return {"components": [component(k, v) for k, v in zip(keys, _VALUES, strict=True)]}
    if rk == fr.BP_ERROR:
        return {"data_absent_reason": DataAbsentReason.ERROR}
    if rk in (fr.MOTION, fr.DOOR):
        return {"value_boolean": True}
    if rk == fr.FALL:
        return {"value_code": "fall"}
    if rk == fr.POSSIBLE_FALL:
        return {"value_code": "possible_fall"}
    return {"value": _VALUES[0]}


@cache
def template(rk: int, dkind: int) -> tuple[str, str, str]:
    """(%-format string, primary system, primary code) for a reading kind and device kind."""
    measure = fr.READING_KINDS[rk][0]
    info = DeviceInfo(id="DEVTOK", manufacturer="Hjem synthetic", model=KINDS[dkind][3])
    obs = make_observation(
        measure,
        source=Source(publisher="pubtok", device=info),
        effective=_SENTINEL,
        demo=True,
        **_observation_fields(rk),  # type: ignore[arg-type]
    )
    text = encode(obs).decode().replace("%", "%%")
    text = text.replace(obs.id, "%(id)s", 1)
    text = text.replace('"publisher":"pubtok"', '"publisher":"%(pub)s"', 1)
    text = text.replace('"id":"DEVTOK"', '"id":"%(dev)s"', 1)
    text = text.replace('"2001-02-03T04:05:06Z"', '"%(t)sZ"', 1)
    for i, v in enumerate(_VALUES):
        text = text.replace(f'"{v}"', f'"%(v{i + 1})s"', 1)
    primary = codes()[measure].primary
    return text, primary.system, primary.code


@dataclass
class Rendered:
    """One chunk's observations: JSON lines and the parallel columns for Parquet."""

    lines: list[str]
    ids: list[str]
    publishers: list[str]
    devices: list[str]
    residents: list[str]
    effective: np.ndarray  # epoch s
    readings: fr.Frame


def _value_strings(readings: fr.Frame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for col in ("v1", "v2", "v3"):
        out[col] = [
            "" if np.isnan(v) else (f"{v:.1f}" if v % 1 else f"{v:.0f}")
            for v in readings[col].tolist()
        ]
    return out


def _fmt(value: str, decimals: int) -> str:
    return value if decimals == 0 or "." in value else f"{value}.0"


def render_chunk(chunk: Chunk) -> Rendered:
    r = chunk.readings
    stamps = np.datetime_as_string(r["t"].astype("datetime64[s]"), unit="s").tolist()
    values = _value_strings(r)
    dev_ids = chunk.devices.ids
    org = chunk.pop.organisation
    lines, ids, pubs, devs, res_ids = [], [], [], [], []
    for i, (rk, dk, res, dev) in enumerate(
        zip(
            r["rk"].tolist(), r["dkind"].tolist(), r["res"].tolist(), r["dev"].tolist(), strict=True
        )
    ):
        fmt, system, code = template(rk, dk)
        device = dev_ids[dev]
        pub = publisher_of(dk, res + chunk.first, int(org[res]))
        stamp = stamps[i]
        oid = observation_id(device, system, code, stamp + "+00:00")
        slots = {"id": oid, "pub": pub, "dev": device, "t": stamp}
        for j, dec in enumerate(_DECIMALS.get(rk, ())):
            slots[f"v{j + 1}"] = _fmt(values[f"v{j + 1}"][i], dec)
        lines.append(fmt % slots)
        ids.append(oid)
        pubs.append(pub)
        devs.append(device)
        res_ids.append(chunk.pop.ids[res])
    return Rendered(lines, ids, pubs, devs, res_ids, r["t"], r)


def by_resident(rendered: Rendered) -> Iterator[tuple[str, list[str]]]:
    """(resident id, that resident's lines), in file order."""
    res = rendered.readings["res"]
    if res.size == 0:
        return
    cuts = np.nonzero(np.diff(res))[0] + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, res.size], strict=True):
        yield rendered.residents[lo], rendered.lines[lo:hi]
