"""The error every command raises for a mistake the user can fix."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """An error the user can fix; printed as one line, exit status 2 (or the given code)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
