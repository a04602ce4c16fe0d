"""The arguments of the ``hjem admin`` actions (the actions are in :mod:`hub.admin.cli`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = [
    "BROKER_PID_FILE",
    "PASSWORD_FILE",
    "acl_args",
    "assign_args",
    "broker_user_args",
    "common",
    "gateway_args",
    "no_args",
    "organisation_args",
    "spo2_scale_args",
    "team_args",
    "user_args",
    "vendor_args",
]

PASSWORD_FILE = Path(os.environ.get("HJEM_ADMIN_PASSWORD_FILE", "/etc/mosquitto/hjem.passwd"))
"""The broker's password file (Debian paths; ``--password-file`` or the environment change it)."""
BROKER_PID_FILE = Path(os.environ.get("HJEM_ADMIN_BROKER_PID_FILE", "/run/mosquitto/mosquitto.pid"))


def common(parser: argparse.ArgumentParser, *, broker: bool, registry: bool) -> None:
    if registry:
        parser.add_argument("--config", metavar="HUB_TOML", help="the hub's configuration file")
        parser.add_argument("--no-registry", action="store_true", help="skip the hub database")
    if broker:
        parser.add_argument(
            "--password-file",
            type=Path,
            default=PASSWORD_FILE,
            help=f"Mosquitto password file (default {PASSWORD_FILE})",
        )
        parser.add_argument(
            "--broker-pid-file",
            type=Path,
            default=BROKER_PID_FILE,
            help=f"for --reload (default {BROKER_PID_FILE})",
        )
        parser.add_argument("--reload", action="store_true", help="SIGHUP the broker after")
        parser.add_argument("--no-broker", action="store_true", help="skip the password file")
        parser.add_argument(
            "--env-file",
            type=Path,
            help="also write the password to this environment file (HJEM_HUB_MQTT__PASSWORD"
            " for a hub login, else HJEM_EDGE_MQTT__PASSWORD; created mode 0600)",
        )


def organisation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id")
    parser.add_argument("--name")


def team_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id")
    parser.add_argument("--organisation", required=True)
    parser.add_argument("--name")


def user_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("--role", choices=["care_staff", "admin"], default="care_staff")
    parser.add_argument("--organisation", help="organisation id (omit for a system admin)")
    parser.add_argument("--team", action="append", help="team id (repeatable)")
    parser.add_argument("--display-name")


def assign_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "device", help="Bluetooth address (any common form) or device id as reported"
    )
    parser.add_argument(
        "--force", action="store_true", help="assign an id no publisher has reported yet"
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--resident", help="pseudonymous resident id (r-...)")
    who.add_argument("--new-resident", metavar="NAME", help="create a resident with this name")
    parser.add_argument("--home", help="home of a new resident")
    parser.add_argument("--start", help="ISO 8601 with offset (default: now)")
    parser.add_argument("--end", help="ISO 8601 with offset (default: open-ended)")


def spo2_scale_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("resident", help="pseudonymous resident id (r-...)")
    parser.add_argument(
        "--scale",
        type=int,
        choices=[1, 2],
        required=True,
        help="NEWS2 SpO2 scale: 2 only as prescribed by a clinician (hypercapnic failure)",
    )


def bind_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", help="device id as the publisher reports it")
    parser.add_argument("--publisher", required=True, help="the vendor (or gateway) it belongs to")
    parser.add_argument("--start", help="ISO 8601 with offset (default: now)")
    parser.add_argument("--end", help="ISO 8601 with offset (default: open-ended)")


def gateway_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="gateway id = MQTT username (a-z 0-9 _ -)")
    parser.add_argument("--home", help="the home it serves (created if new)")
    parser.add_argument("--home-label", help="label of a new home")
    parser.add_argument("--team", help="team that cares for a new home (see add-team)")


def vendor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="vendor id = MQTT username (a-z 0-9 _ -)")
    parser.add_argument("--no-token", action="store_true", help="no HTTP bearer token")


def broker_user_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username", help="e.g. hub")


def acl_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub-user",
        action="append",
        help="a hub process's login: hub (default) or hub-<node>; repeat for each process",
    )
    parser.add_argument("--alert-reader", action="append", help="username that may read alerts")


def no_args(parser: argparse.ArgumentParser) -> None:
    del parser
