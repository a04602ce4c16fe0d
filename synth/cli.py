"""``hjem synth``: synthetic home-care cohorts, streaming them into a hub, twins, reports."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _fail(message: str) -> Exception:
    from hjem.cli import CliError

    return CliError(message)


def _cohort_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--residents", type=int, required=True, help="number of residents")
    p.add_argument("--days", type=int, required=True, help="days of data")
    p.add_argument("--organisations", type=int, default=1, help="municipalities (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 1, 5),
        help="first day, YYYY-MM-DD (default 2026-01-05)",
    )
    p.add_argument("--params", type=Path, help="population parameters (JSON; hjem synth fit)")
    p.add_argument(
        "--formats",
        default="jsonl,parquet,fhir,labels",
        help="comma-separated: jsonl, parquet, fhir, labels (default all)",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory")


def _cohort(args: argparse.Namespace) -> int:
    from synth.cohort import CohortSpec
    from synth.params import Params
    from synth.writer import write_cohort

    try:
        params = Params.load(args.params) if args.params else Params()
        spec = CohortSpec(args.residents, args.days, args.organisations, args.seed, args.start)
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        began = time.perf_counter()
        written = write_cohort(spec, params, args.out, formats)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    took = time.perf_counter() - began
    print(
        f"{written.residents} residents, {written.observations} observations, "
        f"{written.labels} labels in {took:.1f} s -> {args.out}"
    )
    return 0


def _run(module: str, name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        try:
            result: int = getattr(importlib.import_module(module), name)(args)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        return result

    return handler


def register(parser: argparse.ArgumentParser) -> Handler:
    sub = parser.add_subparsers(dest="synth_command", metavar="ACTION", required=True)
    p = sub.add_parser("cohort", help="generate a synthetic cohort into a directory")
    _cohort_args(p)
    p.set_defaults(synth=_cohort)
    from synth import cli_more

    cli_more.register_more(sub, _run)

    def handler(args: argparse.Namespace) -> int:
        result: int = args.synth(args)
        return result

    return handler
