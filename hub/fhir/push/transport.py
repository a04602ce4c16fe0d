"""How the push exporter talks HTTP: a seam (:class:`PushTransport`) with two sides.

:class:`HttpxTransport` is the real one (an ``httpx.AsyncClient``, no redirects followed, a
timeout per request); :class:`MemoryTransport` answers in the process, for unit tests: a
function of the request gives the answer, ``down`` makes every request fail as a refused
connection would, and every request is recorded.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from hub.errors import HubError

__all__ = [
    "HttpAnswer",
    "HttpxTransport",
    "MemoryTransport",
    "PushTransport",
    "TransportError",
    "is_transaction_response",
    "outcome_text",
]


class TransportError(HubError):
    """The request got no HTTP answer (refused, reset, timed out, name not found)."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes


class PushTransport(ABC):
    @abstractmethod
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        """POST ``body``; the answer whatever its status; TransportError without one."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class HttpxTransport(PushTransport):
    def __init__(self, timeout_s: float = 30.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise TransportError(f"POST {url}: {type(exc).__name__}: {exc}") from exc
        return HttpAnswer(response.status_code, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


Handler = Callable[[str, bytes, Mapping[str, str]], HttpAnswer]


@dataclass
class MemoryTransport(PushTransport):
    """Answers with ``handler(url, body, headers)``; records every request it was given."""

    handler: Handler
    down: bool = False
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
        self.requests.append((url, body, dict(headers)))
        if self.down:
            raise TransportError(f"POST {url}: connection refused (memory transport is down)")
        return self.handler(url, body, headers)


def is_transaction_response(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "transaction-response"


def outcome_text(body: bytes) -> str:
    """The diagnostics of an OperationOutcome answer, or the start of the body."""
    try:
        data = json.loads(body)
        issues = data.get("issue", []) if isinstance(data, dict) else []
        texts = [
            " ".join(
                str(x)
                for x in (
                    i.get("severity"),
                    i.get("diagnostics") or i.get("details", {}).get("text"),
                    ",".join(i.get("expression", [])),
                )
                if x
            )
            for i in issues
        ]
        if texts:
            return "; ".join(texts)
    except (ValueError, AttributeError, TypeError):
        pass
    return body[:300].decode("utf-8", "replace")
