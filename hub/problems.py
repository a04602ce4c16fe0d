"""The problem types of the hub's HTTP API errors (RFC 9457 ``type``), each a page it serves.

An error answer's ``type`` is ``/problems/<slug>``: a URI reference resolved against the
request, so it leads to the hub that answered (``hub.web.docs`` serves one page per type, in
Danish and English, and ``/problems`` lists them). :func:`problem_uri` refuses a slug that is
not listed here, so a new kind of error cannot be emitted without its page.
"""

from __future__ import annotations

__all__ = ["PROBLEM_PATH", "PROBLEM_TYPES", "problem_uri"]

PROBLEM_PATH = "/problems/"

PROBLEM_TYPES: dict[str, int | None] = {
    # POST /api/v1/observations (hub.ingest.http): publisher tokens and messages
    "unauthorized": 401,
    "too-large": 413,
    "publisher-mismatch": 403,
    "invalid-message": 422,
    # /api/v1/alerts... (hub.alerts.api): signed-in users and API tokens
    "not-authenticated": 401,
    "forbidden": 403,
    "not-found": 404,
    "invalid-request": 422,
    "conflict": 409,
    "unavailable": 503,
    "error": None,
}
"""Slug -> the HTTP status it comes with (None: any other error status)."""


def problem_uri(slug: str) -> str:
    """The ``type`` of a problem answer; ValueError for a slug without a page."""
    if slug not in PROBLEM_TYPES:
        raise ValueError(f"problem type {slug!r} has no page: add it to hub.problems.PROBLEM_TYPES")
    return PROBLEM_PATH + slug
