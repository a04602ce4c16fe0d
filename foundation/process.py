"""Child processes that never outlive their parent (Linux parent-death signal)."""

from __future__ import annotations

import contextlib
import ctypes
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn`` that makes Linux send the child SIGTERM when its parent dies.

    Only for parents that start children from their main thread (the signal follows the
    thread that forked, not the process).
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
