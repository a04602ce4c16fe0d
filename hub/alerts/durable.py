"""The alert engine with its rule state and input position in the hub database.

:class:`DurableEngine` evaluates each input (a page of stored observations, a gateway change,
a timer tick, a user's resolve) as one unit: the alert changes it causes, every rule
evaluator's state (pending thresholds, hysteresis, baselines, inactivity windows, device and
gateway silence — :meth:`hub.alerts.evaluator.Evaluator.snapshot`) and, for observations,
the position in the store's numbered feed are written in ONE transaction; the live stream
hears of the changes only after it commits. Escalation timers live on the alert rows
(``next_notify``), written by the same transaction.

So a hub that dies at any moment, restarted — or another hub node that takes over — starts
from exactly what was committed: the observations after the position are evaluated (once),
a threshold pending when it died fires when its time is up, an escalation goes on at its
deadline. A unit that cannot be committed leaves the engine as it was before the unit
(reloaded from the database), so evaluating the same input again makes the same changes.

Tables (component ``alert_engine_state``): ``alert_rule_state`` (rule, subject, JSON state)
and ``alert_feed_cursor`` (feed name, position).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from foundation.clock import Clock
from hub.alerts.config import RulesConfig
from hub.alerts.engine import AlertEngine
from hub.alerts.errors import STORE_ERRORS, StorageError
from hub.alerts.inputs import GatewayInput, ObservationInput, Subject, observation_keys
from hub.alerts.store import AlertStore
from hub.db import Connection, migrate, to_micros, transaction
from schemas.models import AlertEvent

if TYPE_CHECKING:
    from hub.alerts.feed import AlertFeed, GatewayFeed

__all__ = ["OBSERVATIONS", "DurableEngine", "EngineState"]

OBSERVATIONS = "observations"
"""The feed name of the store's numbered observations."""

MIGRATIONS = [
    (
        "CREATE TABLE alert_rule_state (rule TEXT NOT NULL, subject TEXT NOT NULL,"
        " state TEXT NOT NULL, PRIMARY KEY (rule, subject))"
    ),
    (
        "CREATE TABLE alert_feed_cursor (feed TEXT PRIMARY KEY, position INTEGER NOT NULL,"
        " updated_us INTEGER NOT NULL)"
    ),
]

StateKey = tuple[str, str]
"""(rule id, subject key)."""


class EngineState:
    """The two tables, on the hub's connection (the alert store's)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        with _errors("migrate"):
            migrate(conn, "alert_engine_state", MIGRATIONS)

    def rule_states(self) -> dict[StateKey, str]:
        with _errors("load rule state"):
            rows = self.conn.execute("SELECT rule, subject, state FROM alert_rule_state")
            return {(str(r), str(s)): str(t) for r, s, t in rows}

    def write(self, changed: dict[StateKey, str], gone: Iterable[StateKey]) -> None:
        with _errors("write rule state"):
            self.conn.executemany(
                "INSERT INTO alert_rule_state (rule, subject, state) VALUES (?, ?, ?)"
                " ON CONFLICT (rule, subject) DO UPDATE SET state = excluded.state",
                [(rule, subject, text) for (rule, subject), text in changed.items()],
            )
            self.conn.executemany(
                "DELETE FROM alert_rule_state WHERE rule = ? AND subject = ?", list(gone)
            )

    def position(self, feed: str) -> int | None:
        with _errors("read feed position"):
            row = self.conn.execute(
                "SELECT position FROM alert_feed_cursor WHERE feed = ?", (feed,)
            ).fetchone()
            return None if row is None else int(row[0])

    def move(self, feed: str, position: int, now: datetime, *, after: int | None) -> None:
        """Move ``feed`` from ``after`` (None: it has no position yet) to ``position``.

        A position that is no longer ``after`` (another hub node moved it: two nodes both
        believed they led, for the moment it takes one to notice it lost) raises
        StorageError, so the unit is rolled back and nothing is evaluated twice."""
        with _errors("move feed position"):
            if after is None:
                cur = self.conn.execute(
                    "INSERT INTO alert_feed_cursor (feed, position, updated_us) VALUES (?, ?, ?)"
                    " ON CONFLICT (feed) DO NOTHING",
                    (feed, position, to_micros(now)),
                )
            else:
                cur = self.conn.execute(
                    "UPDATE alert_feed_cursor SET position = ?, updated_us = ?"
                    " WHERE feed = ? AND position = ?",
                    (position, to_micros(now), feed, after),
                )
        if cur.rowcount != 1:
            raise StorageError(
                f"alert engine state: feed {feed!r} is no longer at {after}"
                " (another hub node evaluated it)"
            )


@contextmanager
def _errors(operation: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"alert engine state: {operation}: {exc}") from exc


class DurableEngine(AlertEngine):
    """An :class:`AlertEngine` whose every input is one committed unit (see the module doc)."""

    def __init__(
        self,
        config: RulesConfig,
        store: AlertStore,
        clock: Clock,
        state: EngineState,
        *,
        channels: Iterable[str] = (),
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.state = state
        self._held: list[tuple[AlertEvent, str | None]] | None = None
        self._saved: dict[StateKey, Any] = {}
        """The rule state as stored (JSON values), to write only what changed."""
        self._stale = False
        self.feed: AlertFeed | None = None
        """Where observations come from (set by the wiring), drained before each tick."""
        self.gateway_feed: GatewayFeed | None = None
        """Where gateway changes come from (set by the wiring), drained before each tick."""
        if new_id is None:
            super().__init__(config, store, clock, channels=channels)
        else:
            super().__init__(config, store, clock, channels=channels, new_id=new_id)

    def _start(self, now: datetime) -> None:
        super()._start(now)
        saved = {key: json.loads(text) for key, text in self.state.rule_states().items()}
        per_rule: dict[str, dict[str, Any]] = {}
        for (rule, subject), value in saved.items():
            per_rule.setdefault(rule, {})[subject] = value
        for rule, states in per_rule.items():
            evaluator = self._evaluators.get(rule)
            if evaluator is not None:
                evaluator.load(states)
        self._saved = saved
        self._stale = False

    # -- units -----------------------------------------------------------------------------

    @contextmanager
    def unit(
        self,
        feed: str | None = None,
        position: int | None = None,
        *,
        after: int | None = None,
        rules: frozenset[str] | None = None,
    ) -> Iterator[None]:
        """Evaluate inside one transaction with the rule state (and ``feed`` moved from
        ``after`` to ``position``, :meth:`EngineState.move`); the listeners hear of the
        changes after the commit. On any failure the engine goes back to what is committed
        and the error propagates. ``rules``: only these rules' state can have changed
        (None: any)."""
        if self._held is not None:  # inside another unit: part of it
            yield
            return
        if self._stale:  # a failed unit could not reload: do it now (or fail again)
            self._start(self.clock())
        held: list[tuple[AlertEvent, str | None]] = []
        self._held = held
        try:
            with transaction(self.state.conn, operation="alert evaluation"):
                yield
                self._checkpoint(rules)
                if feed is not None and position is not None:
                    self.state.move(feed, position, self.clock(), after=after)
        except BaseException:
            self._held = None
            self._stale = True
            with suppress(*STORE_ERRORS):
                self._start(self.clock())
            raise
        self._held = None
        for event, organisation in held:
            super()._emit(event, organisation)

    def _emit(self, event: AlertEvent, organisation: str | None) -> None:
        if self._held is not None:
            self._held.append((event, organisation))
        else:
            super()._emit(event, organisation)

    def _checkpoint(self, rules: frozenset[str] | None) -> None:
        """Write the rule state that differs from what is stored (of ``rules``; None: of
        every rule, and drop the state of rules no longer configured)."""
        checked = self._evaluators.keys() if rules is None else rules & self._evaluators.keys()
        current: dict[StateKey, Any] = {}
        for rule in checked:
            for subject, value in self._evaluators[rule].snapshot().items():
                current[rule, subject] = value
        saved = self._saved
        changed = {key: value for key, value in current.items() if saved.get(key) != value}
        gone = [
            key
            for key in self._saved
            if key not in current and (rules is None or key[0] in checked)
        ]
        if changed or gone:
            texts = {
                key: json.dumps(value, separators=(",", ":")) for key, value in changed.items()
            }
            self.state.write(texts, gone)
        if rules is None:
            self._saved = current
        else:
            for key in gone:
                del self._saved[key]
            self._saved.update(changed)

    # -- inputs, each one unit -------------------------------------------------------------

    def observe(
        self,
        items: Iterable[ObservationInput],
        *,
        position: int | None = None,
        after: int | None = None,
    ) -> list[AlertEvent]:
        """Evaluate observations; ``position``: the feed number of the last of them,
        ``after``: the feed's position before them (None: it has none yet)."""
        items = list(items)
        keys = frozenset().union(*(observation_keys(i.observation) for i in items))
        touched = frozenset(
            rule
            for rule, evaluator in self._evaluators.items()
            if evaluator.interest is None or not evaluator.interest.isdisjoint(keys)
        )
        feed = OBSERVATIONS if position is not None else None
        with self.unit(feed, position, after=after, rules=touched):
            return super().observe(items)

    def gateway(self, item: GatewayInput) -> list[AlertEvent]:
        with self.unit():
            return super().gateway(item)

    def track(self, subjects: Iterable[Subject]) -> None:
        with self.unit():
            super().track(subjects)

    def tick(self) -> list[AlertEvent]:
        """Evaluate what the feeds hold (observations and gateway changes another hub node
        stored, or that a failed evaluation left), then the time-based rules and
        escalations."""
        if self.feed is not None:
            self.feed.drain()
        if self.gateway_feed is not None:
            self.gateway_feed.drain()
        with self.unit():
            return super().tick()

    def resolve(self, alert_id: str, actor: str, note: str) -> AlertEvent:
        with self.unit():
            return super().resolve(alert_id, actor, note)
