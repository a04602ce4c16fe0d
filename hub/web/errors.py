"""The dashboard's exceptions: one root, subclasses that say what and where."""

from __future__ import annotations

__all__ = ["ChartError", "LocaleError", "WebError"]


class WebError(Exception):
    """Root of every error the dashboard raises on purpose."""


class LocaleError(WebError):
    """A locale file or key is missing or malformed."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"locale {where}: {problem}")


class ChartError(WebError):
    """A chart cannot be drawn from the given series (e.g. an empty time range)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"chart: {problem}")
