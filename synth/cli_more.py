"""Arguments of ``hjem synth provision / stream / fit / sample / report`` (filled in later)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register_more"]


def register_more(sub: Any, run: Callable[[str, str], Callable[[argparse.Namespace], int]]) -> None:
    del sub, run
