"""Arguments of ``hjem synth provision / stream / fit / sample / report``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["provision_cmd", "register_more", "stream_cmd"]

Run = Callable[[str, str], Callable[[argparse.Namespace], int]]


def register_more(sub: Any, run: Run) -> None:
    p = sub.add_parser("provision", help="load a cohort's registry into a hub database")
    p.add_argument("cohort", type=Path, help="cohort directory (registry.json)")
    p.add_argument("--database", type=Path, required=True, help="the hub's SQLite database")
    p.add_argument("--password-file", type=Path, help="Mosquitto password file to add logins to")
    p.add_argument(
        "--credentials",
        type=Path,
        required=True,
        help="where to write the publishers' passwords and tokens (mode 0600)",
    )
    p.set_defaults(synth=run("synth.cli_more", "provision_cmd"))
    s = sub.add_parser("stream", help="stream a cohort into a hub as its gateways and vendors")
    s.add_argument("cohort", type=Path, help="cohort directory (observations.jsonl)")
    s.add_argument("--credentials", type=Path, required=True, help="from hjem synth provision")
    s.add_argument("--mqtt-url", help="broker, e.g. mqtt://127.0.0.1:1883")
    s.add_argument("--hub-url", help="hub for vendors' HTTPS posts, e.g. https://hub.example")
    s.add_argument("--cafile", type=Path, help="CA certificate for --hub-url")
    s.set_defaults(synth=run("synth.cli_more", "stream_cmd"))
    from synth import cli_twins

    cli_twins.register_twins(sub, run)


def provision_cmd(args: argparse.Namespace) -> int:
    from hub.db import open_db
    from synth.hubio import provision

    conn = open_db(args.database)
    try:
        creds = provision(args.cohort / "registry.json", conn, password_file=args.password_file)
    finally:
        conn.close()
    creds.save(args.credentials)
    print(f"{len(creds.passwords)} publishers provisioned; credentials in {args.credentials}")
    return 0


def stream_cmd(args: argparse.Namespace) -> int:
    from synth.hubio import Credentials
    from synth.stream import stream_http, stream_mqtt

    if not args.mqtt_url and not args.hub_url:
        raise ValueError("give --mqtt-url, --hub-url or both")
    creds = Credentials.load(args.credentials)
    vendors = set(creds.tokens) if args.hub_url else set()
    outcomes = []
    if args.hub_url:
        outcomes.append(stream_http(args.cohort, args.hub_url, creds.tokens, cafile=args.cafile))
    if args.mqtt_url:
        others = set(creds.passwords) - vendors
        outcomes.append(stream_mqtt(args.cohort, args.mqtt_url, creds.passwords, only=others))
    sent = sum(o.sent_observations for o in outcomes)
    rejected = [r for o in outcomes for r in o.rejections]
    print(f"{sent} observations sent, {len(rejected)} rejections")
    for rejection in rejected[:20]:
        print(f"  {rejection}")
    return 1 if rejected else 0
