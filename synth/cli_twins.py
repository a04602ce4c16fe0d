"""Arguments of ``hjem synth fit / sample / report`` (twins and their report)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["fit_cmd", "register_twins", "report_cmd", "sample_cmd"]


def register_twins(sub: Any, run: Any) -> None:
    f = sub.add_parser("fit", help="fit population parameters with differential privacy")
    f.add_argument("real", type=Path, help="a hub's SQLite database or a cohort directory")
    f.add_argument("--epsilon", type=float, required=True, help="total privacy budget")
    f.add_argument("--seed", type=int, default=0, help="seed of the privacy noise")
    f.add_argument("--out", type=Path, required=True, help="parameters file (JSON)")
    f.set_defaults(synth=run("synth.cli_twins", "fit_cmd"))
    s = sub.add_parser("sample", help="sample a synthetic cohort from fitted parameters")
    s.add_argument("--params", type=Path, required=True, help="from hjem synth fit")
    s.add_argument("--residents", type=int, required=True)
    s.add_argument("--days", type=int, required=True)
    s.add_argument("--organisations", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 5))
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(synth=run("synth.cli_twins", "sample_cmd"))
    r = sub.add_parser("report", help="fidelity, privacy, realism and utility report (HTML)")
    r.add_argument("real", type=Path, help="real data: hub database or cohort directory")
    r.add_argument("synthetic", type=Path, help="synthetic cohort directory (or database)")
    r.add_argument("--holdout", type=Path, help="real data NOT used to fit (for privacy)")
    r.add_argument("--out", type=Path, required=True, help="HTML file")
    r.set_defaults(synth=run("synth.cli_twins", "report_cmd"))


def fit_cmd(args: argparse.Namespace) -> int:
    from synth.data import load
    from synth.fit import fit_params

    params = fit_params(load(args.real), args.epsilon, seed=args.seed)
    args.out.write_text(params.to_json(), encoding="utf-8")
    print(f"parameters fitted with epsilon {args.epsilon} -> {args.out}")
    return 0


def sample_cmd(args: argparse.Namespace) -> int:
    from synth.cohort import CohortSpec
    from synth.params import Params
    from synth.writer import write_cohort

    spec = CohortSpec(args.residents, args.days, args.organisations, args.seed, args.start)
    written = write_cohort(spec, Params.load(args.params), args.out)
    print(f"{written.residents} residents, {written.observations} observations -> {args.out}")
    return 0


def report_cmd(args: argparse.Namespace) -> int:
    from synth.report import build_report

    text, prv, use = build_report(args.real, args.synthetic, args.holdout)
    args.out.write_text(text, encoding="utf-8")
    flags = prv.flagged if prv else []
    print(f"report -> {args.out}" + (f"; PRIVACY FLAGS: {'; '.join(flags)}" if flags else ""))
    print(f"utility not measured: {use}" if isinstance(use, str) else use.summary())
    return 1 if flags else 0
