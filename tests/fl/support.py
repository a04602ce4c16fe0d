"""Shared pieces of the federation tests: hub samples with a signal in feature 0, and an
in-process grid that carries the real server workflow's messages to real ClientApps."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from fl.dataset import Samples
from fl.features import FEATURES

__all__ = ["LocalGrid", "node_context", "signal_samples"]


def signal_samples(seed: int) -> Samples:
    """400 samples of one hub; the label follows feature 0 (plus noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, len(FEATURES)))
    y = (x[:, 0] + rng.normal(size=400) > 1.5).astype(np.int8)
    return Samples(x, y, np.array([f"r{i % 40}" for i in range(400)]), np.arange(400))


def node_context(node_id: int) -> Context:
    return Context(run_id=1, node_id=node_id, node_config={}, state=RecordDict(), run_config={})


class LocalGrid(Grid):
    """Every message goes, as a copy (as if serialised), to its node's ClientApp at once."""

    def __init__(self, app: ClientApp, node_ids: Iterable[int]) -> None:
        self._app = app
        self._nodes = {n: node_context(n) for n in node_ids}
        self._run = Run.create_empty(1)

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError("send_and_receive only")

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError("send_and_receive only")

    def send_and_receive(
        self,
        messages: Iterable[Message],
        *,
        timeout: float | None = None,
    ) -> Iterable[Message]:
        replies = []
        for msg in messages:
            context = self._nodes[msg.metadata.dst_node_id]
            replies.append(copy.deepcopy(self._app(copy.deepcopy(msg), context)))
        return replies
