"""``hjem admin`` actions of the FHIR room: clients, consents and the access log.

``add-fhir-client NAME --organisation ORG --jwks FILE [--purpose P]``,
``add-consent RESIDENT --recipient ORG --purpose P --from T [--until T] [--organisation ORG]``,
``revoke-consent ID [--organisation ORG]``, ``list-consents [--organisation ORG] [--fhir]`` and
``fhir-access-log [--organisation ORG] [--resident R] [--fhir]``. ``--organisation`` on a
consent command is the organisation the operator acts for: the resident must belong to it.
Changes are audited by the repositories (actor ``cli:<OS user>``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from foundation.clock import utcnow
from hub.admin.audit import cli_actor
from hub.admin.context import call, database, fail, parse_time
from hub.fhir.access_log import AccessLog, audit_event
from hub.fhir.clients import FhirClients, parse_jwks
from hub.fhir.consent import PURPOSES, Consents, consent_resource
from hub.fhir.resources import instant

__all__ = ["FHIR_ACTIONS"]

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def _orgs(args: argparse.Namespace) -> frozenset[str] | None:
    return None if args.organisation is None else frozenset({args.organisation})


def _add_client(args: argparse.Namespace) -> int:
    path = Path(args.jwks)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"--jwks {path}: {exc.strerror or exc}") from exc
    jwks = call(lambda: parse_jwks(text, f"--jwks {path}"))
    with database(args) as conn:
        clients = FhirClients(conn)
        client = call(
            lambda: clients.add(
                args.name, args.organisation, jwks, purpose=args.purpose, actor=cli_actor()
            )
        )
    print(
        f"FHIR client {client.client_id} for {client.organisation} ({client.purpose}):"
        f" client_id={client.client_id}, {len(jwks['keys'])} key(s)"
    )
    return 0


def _add_consent(args: argparse.Namespace) -> int:
    start = parse_time(args.start, "--from") or utcnow()
    end = parse_time(args.until, "--until")
    with database(args) as conn:
        consents = Consents(conn)
        consent = call(
            lambda: consents.add(
                args.resident,
                args.recipient,
                args.purpose,
                start,
                end,
                actor=cli_actor(),
                actor_orgs=_orgs(args),
            )
        )
    until = instant(consent.end) if consent.end else "until revoked"
    print(
        f"consent {consent.id}: {consent.resident_id} -> {consent.recipient_org}"
        f" ({consent.purpose}) from {instant(consent.start)} {until}"
    )
    return 0


def _revoke_consent(args: argparse.Namespace) -> int:
    with database(args) as conn:
        consents = Consents(conn)
        consent = call(lambda: consents.revoke(args.id, actor=cli_actor(), actor_orgs=_orgs(args)))
    revoked = instant(consent.revoked_at) if consent.revoked_at else "?"
    print(f"consent {consent.id} revoked at {revoked}")
    return 0


def _list_consents(args: argparse.Namespace) -> int:
    now = utcnow()
    with database(args) as conn:
        listed = Consents(conn).listing(_orgs(args))
    for consent in listed:
        if args.fhir:
            print(json.dumps(consent_resource(consent, now), sort_keys=True))
            continue
        state = "active" if consent.active(now) else "inactive"
        until = instant(consent.end) if consent.end else "-"
        print(
            f"{consent.id}\t{consent.resident_id}\t{consent.recipient_org}\t{consent.purpose}"
            f"\t{instant(consent.start)}\t{until}\t{state}"
        )
    return 0


def _access_log(args: argparse.Namespace) -> int:
    with database(args) as conn:
        entries = AccessLog(conn).entries(_orgs(args), resident_id=args.resident)
    for entry in entries:
        if args.fhir:
            print(json.dumps(audit_event(entry), sort_keys=True))
            continue
        print(
            f"{instant(entry.time)}\t{entry.client_id or '-'}\t{entry.organisation or '-'}"
            f"\t{','.join(entry.residents) or '-'}\t{entry.status}\t{entry.returned}"
            f"\t{entry.method} {entry.query}"
        )
    return 0


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the client_id (1-64 letters, digits, '.', '_', '-')")
    parser.add_argument("--organisation", required=True, help="the organisation it acts for")
    parser.add_argument("--jwks", required=True, help="JSON Web Key Set file (public keys)")
    parser.add_argument(
        "--purpose", default="TREAT", choices=sorted(PURPOSES), help="its purpose of use"
    )


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--organisation", help="act for this organisation: the resident must belong to it"
    )


def _consent_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resident", help="the resident id (r-...)")
    parser.add_argument("--recipient", required=True, help="the recipient organisation")
    parser.add_argument("--purpose", required=True, choices=sorted(PURPOSES))
    parser.add_argument("--from", dest="start", help="start, ISO 8601 with offset (default now)")
    parser.add_argument("--until", help="end (exclusive), ISO 8601 with offset (default: none)")
    _acting(parser)


def _revoke_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=int, help="the consent's number (see list-consents)")
    _acting(parser)


def _list_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organisation", help="only this organisation's (default: all)")
    parser.add_argument("--fhir", action="store_true", help="one FHIR resource per line")


def _log_args(parser: argparse.ArgumentParser) -> None:
    _list_args(parser)
    parser.add_argument("--resident", help="only requests about this resident")


FHIR_ACTIONS: list[tuple[str, Handler, Arguments, str, tuple[bool, bool]]] = [
    (
        "add-fhir-client",
        _add_client,
        _client_args,
        "register a FHIR API client (SMART Backend Services) with its public JWKS",
        (False, True),
    ),
    (
        "add-consent",
        _add_consent,
        _consent_args,
        "record a resident's consent to share with a recipient organisation",
        (False, True),
    ),
    ("revoke-consent", _revoke_consent, _revoke_args, "revoke a consent now", (False, True)),
    ("list-consents", _list_consents, _list_args, "consents (or FHIR Consent)", (False, True)),
    (
        "fhir-access-log",
        _access_log,
        _log_args,
        "the FHIR API access log (or FHIR AuditEvent)",
        (False, True),
    ),
]
