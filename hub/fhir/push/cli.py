"""``hjem admin`` actions of the push exporter: what waits and what was refused, and a retry.

``fhir-push-status [--organisation ORG]``: per configured recipient, the rows queued, the
parked rows with the recipient's answer, since when it fails and its last success.
``fhir-push-retry RECIPIENT [--parked] [--organisation ORG]``: try the recipient now (its
backoff ends) and, with ``--parked``, queue its parked rows again, after the recipient fixed
what it refused. The exporter of a running hub picks either up within ``idle_s``.

``--organisation`` is the organisation the operator acts for: a recipient of that
organisation shows (and retries) all its rows, any other only the rows of that
organisation's residents; a recipient with neither is not shown (and not retried). Both
actions are audited (actor ``cli:<OS user>``), filed under the recipients' and the residents'
organisations they touched.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from foundation.clock import utcnow
from hub.admin.audit import cli_actor, record_admin_action
from hub.admin.context import call, database, fail
from hub.admin.installer import check_organisation
from hub.db import Connection, transaction
from hub.fhir.push.outbox import Outbox, OutboxRow
from hub.fhir.push.settings import PushRecipient
from hub.fhir.resources import instant

__all__ = ["PUSH_ACTIONS"]

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def _recipients(args: argparse.Namespace) -> tuple[PushRecipient, ...]:
    from hub.config import load_settings

    return call(lambda: load_settings(Path(args.config))).fhir_push.recipients


def _scope(recipient: PushRecipient, organisation: str | None) -> str | None:
    """Whose rows the operator sees of ``recipient``: all (None) or one organisation's."""
    return None if organisation in {None, recipient.organisation} else organisation


def _when(moment: datetime | None) -> str:
    return instant(moment) if moment else "never"


def _audit(
    conn: Connection,
    args: argparse.Namespace,
    action: str,
    detail: dict[str, object],
    affected: set[str | None],
) -> None:
    record_admin_action(
        conn,
        time=utcnow(),
        actor=cli_actor(),
        organisation=args.organisation,
        action=action,
        target="fhir-push",
        detail=detail,
        affected=affected,
    )


def _show(outbox: Outbox, recipient: PushRecipient, scope: str | None) -> list[OutboxRow]:
    state = outbox.state(recipient.name)
    parked = outbox.parked(recipient.name, scope)
    queued = state.queued if scope is None else outbox.queued_of(recipient.name, scope)
    failing = (
        f"failing since {_when(state.failing_since)} (failed attempts:"
        f" {state.consecutive_failures}; next try {_when(state.next_attempt)}):"
        f" {state.last_error or '?'}"
        if state.consecutive_failures
        else "not failing"
    )
    whose = "" if scope is None else f" (rows of {scope}'s residents)"
    print(
        f"{recipient.name} -> {recipient.organisation} at {recipient.base_url}{whose}:"
        f" queued {queued}, parked {len(parked)}, {failing};"
        f" last success {_when(state.last_success)}"
    )
    for row, error in parked:
        item = row.item
        print(
            f"  parked {row.seq}\tobservation {item.observation_id}\tresident {item.resident_id}"
            f"\tattempts {row.attempts}\t{error}"
        )
    return [row for row, _ in parked]


def _status(args: argparse.Namespace) -> int:
    recipients = _recipients(args)
    with database(args) as conn:
        call(lambda: check_organisation(conn, args.organisation))
        outbox = Outbox(conn)
        shown: list[str] = []
        affected: set[str | None] = set()
        for recipient in recipients:
            scope = _scope(recipient, args.organisation)
            if scope is not None and not _holds(outbox, recipient, scope):
                continue
            rows = _show(outbox, recipient, scope)
            shown.append(recipient.name)
            affected |= {recipient.organisation, *(r.item.organisation for r in rows)}
        if not shown:
            print("no FHIR push recipient to show ([fhir_push] in the configuration)")
        detail: dict[str, object] = {"recipients": shown}
        call(lambda: _audit(conn, args, "fhir_push_status", detail, affected))
    return 0


def _holds(outbox: Outbox, recipient: PushRecipient, organisation: str) -> bool:
    """Whether ``recipient`` has rows (queued or parked) of ``organisation``'s residents."""
    return bool(
        outbox.queued_of(recipient.name, organisation)
        or outbox.parked(recipient.name, organisation)
    )


def _retry(args: argparse.Namespace) -> int:
    recipients = {r.name: r for r in _recipients(args)}
    recipient = recipients.get(args.recipient)
    if recipient is None:
        known = ", ".join(sorted(recipients)) or "none"
        raise fail(f"no FHIR push recipient {args.recipient!r} in {args.config} (known: {known})")
    with database(args) as conn:
        call(lambda: check_organisation(conn, args.organisation))
        outbox = Outbox(conn)
        scope = _scope(recipient, args.organisation)
        if scope is not None and not _holds(outbox, recipient, scope):
            raise fail(
                f"recipient {recipient.name!r} is {recipient.organisation}'s and holds no"
                f" observation of {scope}'s residents"
            )
        rows = [row for row, _ in outbox.parked(recipient.name, scope)] if args.parked else []
        detail: dict[str, object] = {
            "recipient": recipient.name,
            "requeued": [r.item.observation_id for r in rows],
        }
        affected = {recipient.organisation, *(r.item.organisation for r in rows)}
        with transaction(conn, operation="FHIR push retry"):
            outbox.retry(recipient.name, [r.seq for r in rows])
            _audit(conn, args, "fhir_push_retry", detail, affected)
    parked = f"; {len(rows)} parked rows queued again" if args.parked else ""
    print(f"{recipient.name}: tried again at the exporter's next look{parked}")
    return 0


def _status_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--organisation", help="act for this organisation (default: every recipient, all rows)"
    )


def _retry_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipient", help="the recipient's name in [[fhir_push.recipients]]")
    parser.add_argument(
        "--parked", action="store_true", help="also queue its parked rows again (sent anew)"
    )
    _status_args(parser)


PUSH_ACTIONS: list[tuple[str, Handler, Arguments, str, tuple[bool, bool]]] = [
    (
        "fhir-push-status",
        _status,
        _status_args,
        "each FHIR push recipient: queue, parked rows with its answer, failing since, last success",
        (False, True),
    ),
    (
        "fhir-push-retry",
        _retry,
        _retry_args,
        "try a FHIR push recipient now; --parked queues its parked rows again",
        (False, True),
    ),
]
