"""``hjem admin disable-user | enable-user | reset-password | issue-token | revoke-token |
retire-gateway | unassign-device``: the rest of an account's, a gateway's and a device's life.

Each action is audited by :func:`hub.admin.audit.run_audited` (actor ``cli:<OS user>``, filed
under the organisations it touched). Users are named by their username; a disabled user's
sessions end at once, as do all sessions of a user whose password is reset. A retired gateway
loses its broker login (the ACL is keyed on the login, so nothing else needs re-rendering) but
keeps its registry row and history; ingest refuses its readings from then on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta

from foundation.clock import utcnow
from hub.admin.context import call, database, fail, parse_time

__all__ = ["LIFECYCLE_ACTIONS"]

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def _user_id(args: argparse.Namespace, *, active: bool | None = None) -> tuple[str, bool]:
    """The id of the user ``args.username`` and whether it is active (checked if asked)."""
    from hub.auth.users import UserStore

    with database(args) as conn:
        found = UserStore(conn, utcnow).account(args.username)
    if found is None:
        raise fail(f"no user {args.username!r} (see `hjem admin list`)")
    if active is not None and found[1] != active:
        state = "not disabled" if found[1] else "disabled (see enable-user)"
        raise fail(f"user {args.username!r} is {state}")
    return found


def _disable_user(args: argparse.Namespace) -> int:
    from hub.auth.users import UserStore

    user_id, _ = _user_id(args, active=True)
    with database(args) as conn:
        UserStore(conn, utcnow).deactivate(user_id)
    print(f"user {args.username} disabled: signed out everywhere, cannot sign in")
    return 0


def _enable_user(args: argparse.Namespace) -> int:
    from hub.auth.users import UserStore

    user_id, _ = _user_id(args, active=False)
    with database(args) as conn:
        UserStore(conn, utcnow).activate(user_id)
    print(f"user {args.username} enabled: signs in with the password it had")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    from hub.admin.provision import generate_secret
    from hub.auth.users import UserStore

    user_id, _ = _user_id(args)
    password = generate_secret(18)
    with database(args) as conn:
        try:
            UserStore(conn, utcnow).set_password(user_id, password)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    print(f"user {args.username}: new password, every session ended")
    print(f"password: {password}")
    print("  (shown only now; the hub keeps an Argon2id hash)")
    return 0


def _issue_token(args: argparse.Namespace) -> int:
    from hub.auth.users import UserStore
    from hub.registry.core import hash_token

    if args.days is not None and args.days <= 0:
        raise fail(f"--days must be a positive number of days, not {args.days}")
    user_id, _ = _user_id(args, active=True)
    ttl = timedelta(days=args.days) if args.days is not None else None
    with database(args) as conn:
        token = UserStore(conn, utcnow).issue_token(user_id, args.name, ttl)
    args.token_id = hash_token(token)  # for the audit entry: the id, never the token
    until = f"{args.days} days" if args.days is not None else "until revoked"
    print(f"API token {args.name!r} for {args.username} ({until}), id {args.token_id}")
    print(f"token: {token}")
    print("  (shown only now; the hub keeps its SHA-256, the id above)")
    return 0


def _revoke_token(args: argparse.Namespace) -> int:
    from hub.auth.users import UserStore

    with database(args) as conn:
        store = UserStore(conn, utcnow)
        info = store.token_info(args.token_id)
        if info is None or info.username.lower() != args.username.lower():
            raise fail(f"user {args.username!r} has no API token with id {args.token_id!r}")
        if not store.revoke_token_id(args.token_id):
            raise fail(f"API token {args.token_id!r} of {args.username!r} is already revoked")
    print(f"API token {info.name!r} of {args.username} revoked")
    return 0


def _retire_gateway(args: argparse.Namespace) -> int:
    """Broker login first (a failure there leaves the registry as it was), then the registry."""
    from hub.admin.provision import check_username, reload_broker, remove_broker_user
    from hub.registry.core import Registry

    call(lambda: check_username(args.id))
    if not args.no_registry:
        with database(args) as conn:
            publisher = Registry(conn).publisher(args.id)
        if publisher is None or publisher.kind != "gateway":
            raise fail(f"no gateway {args.id!r} in the registry (see `hjem admin list`)")
        if publisher.retired is not None:
            raise fail(f"gateway {args.id!r} was retired at {publisher.retired.isoformat()}")
    if not args.no_broker:
        removed = call(lambda: remove_broker_user(args.password_file, args.id))
        state = "removed" if removed else "was not in the password file"
        print(f"broker login {args.id} {state}")
        if args.reload:
            pid = call(lambda: reload_broker(args.broker_pid_file))
            print(f"broker reloaded (SIGHUP to PID {pid}): the gateway can no longer connect")
        else:
            print("reload the broker to apply: systemctl reload mosquitto (or pass --reload)")
    if not args.no_registry:
        moment = utcnow()
        with database(args) as conn:
            registry = Registry(conn)
            call(lambda: registry.retire_publisher(args.id, moment))
        print(f"gateway {args.id} retired at {moment.isoformat()}: its readings are refused")
    return 0


def _unassign_device(args: argparse.Namespace) -> int:
    from hub.admin.installer import device_id
    from hub.registry.core import Registry

    args.device = call(lambda: device_id(args.device))
    at = parse_time(args.at, "--at") or utcnow()
    with database(args) as conn:
        registry = Registry(conn)
        current = [a for a in registry.assignments(args.device) if a.end is None and a.start < at]
        if not current:
            raise fail(
                f"device {args.device!r} has no open assignment that started before"
                f" {at.isoformat()} (see `hjem admin list`)"
            )
        registry.unassign(args.device, at)
    args.resident = current[-1].resident_id  # for the audit entry
    print(f"device {args.device} unassigned from {args.resident} at {at.isoformat()}")
    return 0


def _with_database(run: Handler) -> Handler:
    """The action changes the hub database: ``--no-registry`` would skip its audit."""

    def checked(args: argparse.Namespace) -> int:
        if args.no_registry:
            raise fail(f"{args.admin_command} changes the hub database: drop --no-registry")
        return run(args)

    return checked


def _user_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")


def _token_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("--name", required=True, help="what the token is for")
    parser.add_argument("--days", type=int, help="valid for this many days (default: no end)")


def _revoke_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("token_id", metavar="TOKEN-ID", help="as issue-token printed it")


def _retire_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="gateway id = MQTT username")


def _unassign_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device", help="Bluetooth address (any common form) or device id")
    parser.add_argument("--at", help="ISO 8601 with offset (default: now)")


# name, handler, arguments, help, (writes the broker's password file, uses the hub database)
LIFECYCLE_ACTIONS: list[tuple[str, Handler, Arguments, str, tuple[bool, bool]]] = [
    (
        "disable-user",
        _with_database(_disable_user),
        _user_arg,
        "sign a user out and lock it",
        (False, True),
    ),
    (
        "enable-user",
        _with_database(_enable_user),
        _user_arg,
        "let a disabled user sign in again",
        (False, True),
    ),
    (
        "reset-password",
        _with_database(_reset_password),
        _user_arg,
        "a new generated password for a user (ends its sessions)",
        (False, True),
    ),
    (
        "issue-token",
        _with_database(_issue_token),
        _token_args,
        "an API token for a user",
        (False, True),
    ),
    (
        "revoke-token",
        _with_database(_revoke_token),
        _revoke_args,
        "revoke a user's API token",
        (False, True),
    ),
    (
        "retire-gateway",
        _retire_gateway,
        _retire_args,
        "remove a gateway's broker login and refuse its readings (history kept)",
        (True, True),
    ),
    (
        "unassign-device",
        _with_database(_unassign_device),
        _unassign_args,
        "end a device's assignment to its resident",
        (False, True),
    ),
]
