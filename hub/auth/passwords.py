"""The password policy of staff accounts, applied wherever a password is set
(:meth:`hub.auth.UserStore.create_user` and ``set_password``: the dashboard, ``hjem admin``
and the demo alike).

A password is refused when it is shorter than :data:`MIN_LENGTH`, only white space, one of
the most common passwords (zxcvbn's list of 30,000, also with digits or punctuation added at
the end, like ``password12``), or too easy to guess by zxcvbn's estimate: care staff need a
score of at least 3 of 4, administrators 4 of 4 (an administrator's account reaches every
resident of the organisation). The user's name counts as known to an attacker.
"""

from __future__ import annotations

import functools
import string

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from hub.auth.errors import AuthError

__all__ = ["MIN_LENGTH", "MIN_SCORE", "WeakPasswordError", "check_password_strength"]

MIN_LENGTH = 10
MIN_SCORE = {"care_staff": 3, "admin": 4}
SCORED_CHARACTERS = 72
"""zxcvbn refuses longer input (its work grows fast with length); the rest is not scored."""
_TAIL = string.digits + string.punctuation + " "


class WeakPasswordError(AuthError, ValueError):
    """A password the policy refuses; ``problem`` says why in words for the person typing."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"password refused: {problem}")


@functools.cache
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def _is_common(password: str) -> bool:
    lowered = password.strip().lower()
    base = lowered.rstrip(_TAIL)
    return lowered in _common() or (len(base) >= 4 and base in _common())


def check_password_strength(
    password: str, role: str, user_inputs: tuple[str | None, ...] = ()
) -> None:
    """Raise :class:`WeakPasswordError` unless ``password`` is good enough for ``role``."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if not password.strip():
        raise WeakPasswordError("a password cannot be only spaces")
    if _is_common(password):
        raise WeakPasswordError("this is one of the most common passwords; choose another")
    need = MIN_SCORE.get(role, max(MIN_SCORE.values()))
    known = [part for part in user_inputs if part]
    result = zxcvbn(password[:SCORED_CHARACTERS], user_inputs=known)
    score = int(result["score"])
    if score < need:
        feedback = result.get("feedback") or {}
        hints = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
        hint = " ".join(h for h in hints if h)
        who = "administrators" if role == "admin" else "care staff"
        raise WeakPasswordError(
            f"this password is too easy to guess (strength {score} of 4; {who} need {need})"
            + (f": {hint}" if hint else "; use a few uncommon words")
        )
