"""``hjem bench``: runs the benchmarks of a source checkout (``bench/``, not installed).

The benchmarks and their table live in the top-level ``bench/`` directory, which no wheel
ships; this command finds it next to the ``hjem`` package (an editable install or a
checkout on ``PYTHONPATH``) or in the working directory, and says so when there is none.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from foundation.errors import CliError

__all__ = ["find_checkout", "register", "run"]

_NO_CHECKOUT = (
    "the benchmarks live in the bench/ directory of a source checkout, which is not "
    "installed; none found next to the hjem package ({package}) or in the working "
    "directory ({cwd}). Run it from a clone of the repository (pip install -e '.[dev]')"
)


def find_checkout() -> Path | None:
    """The directory holding ``bench/__init__.py``: beside the hjem package, else the cwd."""
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (root / "bench" / "__init__.py").is_file():
            return root
    return None


def _benchmarks() -> dict[str, tuple[str, str]]:
    root = find_checkout()
    if root is None:
        raise CliError(_NO_CHECKOUT.format(package=Path(__file__).parent, cwd=Path.cwd()))
    if str(root) not in sys.path:
        sys.path.append(str(root))
    table: dict[str, tuple[str, str]] = importlib.import_module("bench").BENCHMARKS
    return table


def run(names: list[str]) -> int:
    benchmarks = _benchmarks()
    unknown = [n for n in names if n not in benchmarks]
    if unknown:
        raise CliError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    for name in names or list(benchmarks):
        target, description = benchmarks[name]
        module_name, func_name = target.split(":")
        func: Callable[[], None] = getattr(importlib.import_module(module_name), func_name)
        print(f"\n=== {name}: {description}", flush=True)
        started = time.perf_counter()
        func()
        print(f"--- {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def _names(root: Path) -> list[str]:
    """The benchmark names in ``bench/__init__.py``, read without importing it (for --help)."""
    tree = ast.parse((root / "bench" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "BENCHMARKS":
            return list(ast.literal_eval(node.value) if node.value else {})
    return []


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    root = find_checkout()
    known = ", ".join(_names(root)) if root else "none here (they run from a source checkout)"
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {known}"
    )
    return lambda args: run(list(args.names))
