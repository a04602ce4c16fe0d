"""Vital-sign readings: levels per condition, AR(1) days, circadian rhythm, episodes, artefacts.

A reading of measure m by resident r at local time h of day d is

    base[r] + ar[r, d] + episode effect(r, t) + A cos(2 pi (h - peak) / 24) + noise

with ``base`` = population mean + condition offsets + between-person spread. Blood pressure
falls at night by the resident's dipping ratio; weight follows a random walk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth import frame as fr
from synth.episodes import Effects
from synth.params import CONDITIONS, Params, VitalParams
from synth.population import KIND_INDEX, Population

__all__ = ["Calendar", "Levels", "draw_levels", "vital_readings"]


@dataclass(frozen=True)
class Calendar:
    day_utc: np.ndarray  # int64 epoch s of each local midnight

    @property
    def days(self) -> int:
        return int(self.day_utc.size)

    def utc(self, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
        return np.asarray(self.day_utc[day] + np.round(hour * 3600).astype(np.int64))


@dataclass
class Levels:
    base: dict[str, np.ndarray]  # measure -> (N,)
    ar: dict[str, np.ndarray]  # measure -> (N, D)
    dip_ratio: np.ndarray  # (N,) night/day blood pressure


def _ar1(rng: np.random.Generator, n: int, days: int, phi: float, sd: float) -> np.ndarray:
    out = np.empty((n, days))
    out[:, 0] = rng.normal(0, sd, n)
    scale = sd * np.sqrt(max(1 - phi * phi, 0.0))
    shocks = rng.normal(0, 1, (n, days)) * scale
    for d in range(1, days):
        out[:, d] = phi * out[:, d - 1] + shocks[:, d]
    return out


def _base(rng: np.random.Generator, vp: VitalParams, pop: Population) -> np.ndarray:
    level = np.full(pop.n, vp.mean) + rng.normal(0, vp.between_sd, pop.n)
    for condition, offset in vp.offsets.items():
        level += offset * pop.conditions[:, CONDITIONS.index(condition)]
    return level


def draw_levels(rng: np.random.Generator, params: Params, pop: Population, days: int) -> Levels:
    base: dict[str, np.ndarray] = {}
    ar: dict[str, np.ndarray] = {}
    for measure, vp in params.vitals.items():
        if measure == "weight":
            continue
        base[measure] = _base(rng, vp, pop)
        ar[measure] = _ar1(rng, pop.n, days, vp.ar_phi, vp.ar_sd)
    # diastolic shares most of its day-to-day movement with systolic
    sd_ratio = params.vitals["diastolic"].ar_sd / max(params.vitals["systolic"].ar_sd, 1e-9)
    ar["diastolic"] = 0.7 * ar["systolic"] * sd_ratio + np.sqrt(1 - 0.49) * ar["diastolic"]
    mean_w = np.where(pop.female, params.weight_mean_female, params.weight_mean_male)
    base["weight"] = np.clip(mean_w + rng.normal(0, params.weight_sd, pop.n), 38, 160)
    steps = rng.normal(0, params.weight_drift_sd_per_day, (pop.n, days))
    ar["weight"] = np.cumsum(steps, axis=1)
    dip = np.clip(
        rng.normal(params.bp_night_ratio_mean, params.bp_night_ratio_sd, pop.n), 0.7, 1.15
    )
    return Levels(base, ar, dip)


def night_weight(hour: np.ndarray) -> np.ndarray:
    """1 while asleep (0-6 h), 0 while awake (9-21 h), smooth in between."""
    return np.clip(1.5 * np.cos(2 * np.pi * (hour - 3.0) / 24) - 0.5, 0, 1)


@dataclass
class Ctx:
    """What every reading schedule needs."""

    rng: np.random.Generator
    params: Params
    pop: Population
    lv: Levels
    fx: Effects
    taken: np.ndarray  # (N, D): the resident measured that day
    single: np.ndarray  # (N, 1): share of single readings taken on such a day
    ill: np.ndarray  # (N, D): an episode is under way


def value(ctx: Ctx, measure: str, res: np.ndarray, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    vp = ctx.params.vitals[measure]
    lv = ctx.lv
    x = lv.base[measure][res] + lv.ar[measure][res, day]
    x = x + ctx.fx.at(measure, res, day + hour / 24)
    x = x + vp.circadian_amplitude * np.cos(2 * np.pi * (hour - vp.circadian_peak_hour) / 24)
    if measure in ("systolic", "diastolic"):
        x = x * (1 - (1 - lv.dip_ratio[res]) * night_weight(hour))
    x = x + ctx.rng.normal(0, vp.noise_sd, res.size)
    return np.asarray(np.round(np.clip(x, vp.lo, vp.hi), vp.decimals), dtype=float)


def _schedule(
    rng: np.random.Generator, mask: np.ndarray, hour_mean: float, hour_sd: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readings on the (N, D) days in ``mask``, at about ``hour_mean`` local time."""
    res, day = np.nonzero(mask)
    hour = np.clip(rng.normal(hour_mean, hour_sd, res.size), 5.5, 23.5)
    return res, day, hour


def _gather(
    ctx: Ctx, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate schedules and drop the single readings the resident skipped."""
    res = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    hour = np.concatenate([p[2] for p in parts])
    keep = ctx.rng.random(res.size) < ctx.single[res, 0]
    return res[keep], day[keep], hour[keep]


def vital_readings(
    rng: np.random.Generator,
    params: Params,
    pop: Population,
    lv: Levels,
    *,
    fx: Effects,
    cal: Calendar,
) -> fr.Frame:
    days = cal.days
    miss = 1 - pop.adherence[:, None]
    taken = ~(rng.random((pop.n, days)) < miss * 0.6)  # whole missing days
    ill = fx.illness.reshape(pop.n, days, -1).max(axis=2) > 0.3
    ctx = Ctx(rng, params, pop, lv, fx, taken, 1 - miss * 0.4, ill)
    frames = [
        _blood_pressure(ctx),
        _oximeter(ctx),
        _simple(ctx, "th", "temperature", fr.TEMPERATURE),
        _simple(ctx, "sc", "weight", fr.WEIGHT),
        _simple(ctx, "gl", "glucose", fr.GLUCOSE),
    ]
    out = fr.concat(frames)
    out["t"] = cal.utc(out["t"] // 10**6, (out["t"] % 10**6) / 1e4)  # packed (day, hour)
    return out


def _pack(day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Day and hour packed into one int64 until the calendar turns them into UTC seconds."""
    return day.astype(np.int64) * 10**6 + np.round(hour * 1e4).astype(np.int64)


def _minutes(minutes: np.ndarray) -> np.ndarray:
    return _pack(np.zeros(minutes.size, np.int64), minutes / 60)


def _has(ctx: Ctx, kind: str) -> np.ndarray:
    return ctx.pop.kit[:, KIND_INDEX[kind]][:, None] & np.ones(ctx.taken.shape[1], bool)


def _blood_pressure(ctx: Ctx) -> fr.Frame:
    rng, params, pop = ctx.rng, ctx.params, ctx.pop
    has = _has(ctx, "bp")
    twice = (pop.has("hypertension") | pop.has("heart_failure"))[:, None] & has
    res, day, hour = _gather(
        ctx,
        [
            _schedule(rng, has & ctx.taken, params.morning_hour_mean, params.morning_hour_sd),
            _schedule(rng, twice & ctx.taken, 20.5, 0.6),
        ],
    )
    sys_ = value(ctx, "systolic", res, day, hour)
    dia = np.minimum(value(ctx, "diastolic", res, day, hour), sys_ - 15)
    mean = np.round(dia + (sys_ - dia) / 3, 1)
    pulse = value(ctx, "pulse", res, day, hour)
    error = rng.random(res.size) < params.cuff_error_p
    t = _pack(day, hour)
    ok = ~error
    bp = KIND_INDEX["bp"]
    frames = [
        fr.make(res=res[ok], dkind=bp, rk=fr.BP, t=t[ok], v1=sys_[ok], v2=dia[ok], v3=mean[ok]),
        fr.make(res=res[ok], dkind=bp, rk=fr.PULSE_BP, t=t[ok], v1=pulse[ok]),
        fr.make(res=res[error], dkind=bp, rk=fr.BP_ERROR, t=t[error], artefact=True),
    ]
    # after a cuff error the resident measures again two minutes later
    again = error & (rng.random(res.size) < 0.8)
    t2 = t[again] + _minutes(np.full(int(again.sum()), 2.0))
    frames.append(
        fr.make(
            res=res[again], dkind=bp, rk=fr.BP, t=t2, v1=sys_[again], v2=dia[again], v3=mean[again]
        )
    )
    frames.append(fr.make(res=res[again], dkind=bp, rk=fr.PULSE_BP, t=t2, v1=pulse[again]))
    return fr.concat(frames)


def _oximeter(ctx: Ctx) -> fr.Frame:
    rng, params = ctx.rng, ctx.params
    has = _has(ctx, "ox")
    extra = has & ctx.ill & (rng.random(ctx.ill.shape) < 0.7)  # checked more when ill
    res, day, hour = _gather(
        ctx,
        [
            _schedule(rng, has & ctx.taken, params.morning_hour_mean, params.morning_hour_sd),
            _schedule(rng, extra, 15.5, 1.0),
        ],
    )
    spo2 = value(ctx, "spo2", res, day, hour)
    pulse = value(ctx, "pulse", res, day, hour)
    art = rng.random(res.size) < params.oximeter_artefact_p
    bad_spo2 = np.clip(spo2 - rng.uniform(4, 12, res.size), 70, 100).round()
    bad_pulse = np.clip(pulse * rng.uniform(0.6, 1.5, res.size), 35, 160).round()
    t = _pack(day, hour)
    ox = KIND_INDEX["ox"]
    frames = [
        fr.make(res=res, dkind=ox, rk=fr.SPO2, t=t, v1=np.where(art, bad_spo2, spo2), artefact=art),
        fr.make(
            res=res, dkind=ox, rk=fr.PULSE_OX, t=t, v1=np.where(art, bad_pulse, pulse), artefact=art
        ),
    ]
    again = art & (rng.random(res.size) < 0.7)  # cold finger: warm the hand, measure again
    t2 = t[again] + _minutes(rng.uniform(1, 3, int(again.sum())))
    frames.append(fr.make(res=res[again], dkind=ox, rk=fr.SPO2, t=t2, v1=spo2[again]))
    frames.append(fr.make(res=res[again], dkind=ox, rk=fr.PULSE_OX, t=t2, v1=pulse[again]))
    return fr.concat(frames)


def _simple(ctx: Ctx, dkind: str, measure: str, rk: int) -> fr.Frame:
    rng, params, pop = ctx.rng, ctx.params, ctx.pop
    days = ctx.taken.shape[1]
    has = _has(ctx, dkind)
    if measure == "weight":  # daily with heart failure, else weekly
        weekly = (np.arange(days)[None, :] % 7) == (np.arange(pop.n)[:, None] % 7)
        has = has & (pop.has("heart_failure")[:, None] | weekly)
    morning = params.morning_hour_mean - 0.5
    parts = [_schedule(rng, has & ctx.taken, morning, params.morning_hour_sd)]
    if measure == "temperature":
        parts.append(_schedule(rng, has & ctx.ill, 19.0, 1.0))
    if measure == "glucose":
        parts.append(_schedule(rng, has & ctx.taken, 17.5, 0.5))
    res, day, hour = _gather(ctx, parts)
    if measure == "weight":
        vp = params.vitals["weight"]
        w = ctx.lv.base["weight"][res] + ctx.lv.ar["weight"][res, day]
        w = w + ctx.fx.at("weight", res, day + hour / 24)
        v = np.round(np.clip(w + rng.normal(0, vp.noise_sd, res.size), vp.lo, vp.hi), 1)
    else:
        v = value(ctx, measure, res, day, hour)
    return fr.make(res=res, dkind=KIND_INDEX[dkind], rk=rk, t=_pack(day, hour), v1=v)
