"""Ground truth of a chunk (residents, episodes, falls, false alarms, device faults,
artefacts) and its part of the registry (homes, residents, devices, assignments over time)."""

from __future__ import annotations

from typing import Any

import numpy as np

from synth import frame as fr
from synth.cohort import Chunk, iso
from synth.episodes import EPISODE_KINDS
from synth.params import CONDITIONS
from synth.population import KINDS
from synth.render import publisher_of

__all__ = ["chunk_labels", "chunk_registry"]

_EPISODE_NAMES = list(EPISODE_KINDS)


def _episode_rows(chunk: Chunk, t0: int) -> list[dict[str, Any]]:
    ep, r = chunk.episodes, chunk.readings
    vital = np.nonzero(((r["rk"] == fr.TEMPERATURE) | (r["rk"] == fr.SPO2)) & ~r["artefact"])[0]
    r = fr.take(r, vital)
    rows = []
    for i in range(ep.kind.size):
        res = int(ep.resident[i])
        start = t0 + int((ep.onset[i] - ep.prodrome[i]) * 86400)
        onset = t0 + int(ep.onset[i] * 86400)
        end = t0 + int((ep.onset[i] + ep.hold[i] + ep.recovery[i]) * 86400)
        mine = (r["res"] == res) & (r["t"] >= start) & (r["t"] < end)
        temps = r["v1"][mine & (r["rk"] == fr.TEMPERATURE)]
        spo2 = r["v1"][mine & (r["rk"] == fr.SPO2)]
        rows.append(
            {
                "type": "episode",
                "kind": _EPISODE_NAMES[int(ep.kind[i])],
                "resident": chunk.pop.ids[res],
                "prodrome_start": iso(start),
                "onset": iso(onset),
                "end": iso(end),
                "peak_effect": {m: round(float(v[i]), 2) for m, v in ep.peaks.items() if v[i]},
                "max_temperature": float(temps.max()) if temps.size else None,
                "min_spo2": float(spo2.min()) if spo2.size else None,
            }
        )
    return rows


def chunk_labels(chunk: Chunk, t0: int) -> list[dict[str, Any]]:
    pop = chunk.pop
    rows: list[dict[str, Any]] = [
        {
            "type": "resident",
            "resident": pop.ids[i],
            "sex": "female" if pop.female[i] else "male",
            "age": round(float(pop.age[i]), 1),
            "conditions": [c for j, c in enumerate(CONDITIONS) if pop.conditions[i, j]],
            "adherence": round(float(pop.adherence[i]), 3),
        }
        for i in range(pop.n)
    ]
    rows += _episode_rows(chunk, t0)
    f = chunk.falls
    for i in range(f.time.size):
        rows.append(
            {
                "type": "fall",
                "resident": pop.ids[int(f.resident[i])],
                "time": iso(t0 + f.time[i] * 86400),
                "detected": bool(f.detected[i]),
                "lying_minutes": round(float(f.lying_minutes[i]), 1),
            }
        )
    r = chunk.readings
    dev_ids = chunk.devices.ids
    for i in np.nonzero(r["rk"] == fr.POSSIBLE_FALL)[0].tolist():
        rows.append(
            {
                "type": "false_fall_alarm",
                "resident": pop.ids[int(r["res"][i])],
                "device": dev_ids[int(r["dev"][i])],
                "time": iso(int(r["t"][i])),
            }
        )
    for row, silent, back in chunk.faults.tolist():
        rows.append(
            {
                "type": "device_fault",
                "kind": "silent",
                "device": dev_ids[row],
                "start": iso(silent),
                "replaced": iso(back),
            }
        )
    for i in np.nonzero(r["artefact"])[0].tolist():
        kind = "cuff_error" if r["rk"][i] == fr.BP_ERROR else "cold_finger_or_motion"
        if r["rk"][i] == fr.PULSE_OX:
            continue  # one label per oximeter reading (its SpO2 row)
        rows.append(
            {
                "type": "artefact",
                "kind": kind,
                "device": dev_ids[int(r["dev"][i])],
                "time": iso(int(r["t"][i])),
            }
        )
    return rows


def chunk_registry(chunk: Chunk) -> dict[str, list[dict[str, Any]]]:
    pop, dv = chunk.pop, chunk.devices
    out: dict[str, list[dict[str, Any]]] = {
        "homes": [],
        "residents": [],
        "gateways": [],
        "devices": [],
        "assignments": [],
        "bindings": [],
    }
    for i in range(pop.n):
        g = i + chunk.first
        org = int(pop.organisation[i]) + 1
        out["homes"].append(
            {"id": f"home-{g:06d}", "organisation": f"org-{org}", "team": f"team-{org}"}
        )
        out["gateways"].append({"id": f"gw-{g:06d}", "home": f"home-{g:06d}"})
        out["residents"].append(
            {"id": pop.ids[i], "home": f"home-{g:06d}", "name": f"Synthetic resident {g:06d}"}
        )
    for row, device in enumerate(dv.ids):
        res, kind = int(dv.resident[row]), int(dv.kind[row])
        publisher = publisher_of(kind, res + chunk.first, int(pop.organisation[res]))
        end = iso(int(dv.end[row])) if dv.end[row] >= 0 else None
        out["devices"].append(
            {
                "id": device,
                "kind": KINDS[kind][0],
                "description": KINDS[kind][1],
                "model": KINDS[kind][3],
                "publisher": publisher,
            }
        )
        span = {"device": device, "start": iso(int(dv.start[row])), "end": end}
        out["assignments"].append({**span, "resident": pop.ids[res]})
        if KINDS[kind][2] == "vendor":
            out["bindings"].append({**span, "publisher": publisher})
    return out
