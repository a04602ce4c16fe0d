"""Staff users, API tokens and server-side sessions in the hub database (SQLite or PostgreSQL).

Passwords are hashed with Argon2id (argon2-cffi). API tokens and session ids are 32 random
bytes; only their SHA-256 is stored (a random secret of that length needs no slow hash).
A user belongs to one organisation of the registry (``None`` only for a system admin, who
sees every organisation) and to any number of its teams.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from foundation.clock import Clock
from hub.auth.errors import UserExistsError
from hub.auth.passwords import check_password_strength
from hub.db import Connection, from_micros, migrate, to_micros, transaction

__all__ = ["Role", "TokenInfo", "User", "UserStore", "fast_hasher"]

MIGRATIONS = [
    (
        "CREATE TABLE auth_user (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        " display_name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('care_staff', 'admin')),"
        " organisation_id TEXT, password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,"
        " created_us INTEGER NOT NULL)"
    ),
    (
        "CREATE TABLE auth_team_member (user_id TEXT NOT NULL REFERENCES auth_user(id),"
        " team_id TEXT NOT NULL, PRIMARY KEY (user_id, team_id))"
    ),
    (
        "CREATE TABLE auth_token (token_sha256 TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL REFERENCES auth_user(id), name TEXT NOT NULL,"
        " created_us INTEGER NOT NULL, expires_us INTEGER, revoked_us INTEGER)"
    ),
    (
        "CREATE TABLE auth_session (id_sha256 TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL REFERENCES auth_user(id), created_us INTEGER NOT NULL,"
        " expires_us INTEGER NOT NULL, address TEXT, ended_us INTEGER)"
    ),
    "CREATE TABLE auth_secret (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    # Versions 6-8: sign-in failures (hub.auth.throttle), shared by every hub node (issue 17).
    (
        "CREATE TABLE auth_throttle_pair (username TEXT NOT NULL, address TEXT NOT NULL,"
        " failures INTEGER NOT NULL, last_us INTEGER NOT NULL, PRIMARY KEY (username, address))"
    ),
    "CREATE TABLE auth_throttle_failure (address TEXT NOT NULL, at_us INTEGER NOT NULL)",
    "CREATE INDEX auth_throttle_failure_address ON auth_throttle_failure (address, at_us)",
]

TOKEN_PREFIX = "hjt_"  # noqa: S105 - a visible prefix, not a secret


class Role(enum.StrEnum):
    CARE_STAFF = "care_staff"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    display_name: str
    role: Role
    organisation: str | None
    teams: tuple[str, ...] = ()

    def organisations(self) -> frozenset[str] | None:
        """The organisations whose residents this user may see; None means all."""
        if self.organisation is None and self.role is Role.ADMIN:
            return None
        return frozenset({self.organisation}) if self.organisation else frozenset()

    def may_see(self, organisation: str | None) -> bool:
        allowed = self.organisations()
        return allowed is None or (organisation is not None and organisation in allowed)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as the admin page lists it (never the token itself)."""

    id: str
    """The SHA-256 of the token: names it for revocation, useless for signing in."""
    name: str
    username: str
    organisation: str | None
    created: datetime
    expires: datetime | None
    revoked: datetime | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> TokenInfo:
        ident, name, username, org, created, expires, revoked = row
        return cls(
            str(ident),
            str(name),
            str(username),
            str(org) if org is not None else None,
            from_micros(int(created)),
            from_micros(int(expires)) if expires is not None else None,
            from_micros(int(revoked)) if revoked is not None else None,
        )

    def state(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``active``."""
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.expires is not None and self.expires <= now else "active"


def fast_hasher() -> PasswordHasher:
    """Cheap Argon2 parameters for tests and benchmarks only."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class UserStore:
    """The auth tables. One owner per connection."""

    def __init__(
        self, conn: Connection, clock: Clock, hasher: PasswordHasher | None = None
    ) -> None:
        self._conn = conn
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        migrate(conn, "auth", MIGRATIONS)
        self.csrf_key = self._secret("csrf")
        """This hub's key for CSRF tokens: random on first start, kept in the database."""

    def _secret(self, name: str) -> bytes:
        with transaction(self._conn):
            self._conn.execute(
                "INSERT OR IGNORE INTO auth_secret (name, value) VALUES (?, ?)",
                (name, secrets.token_bytes(32)),
            )
            row = self._conn.execute(
                "SELECT value FROM auth_secret WHERE name = ?", (name,)
            ).fetchone()
        return bytes(row[0])

    # -- users -----------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        role: Role,
        organisation: str | None,
        *,
        teams: tuple[str, ...] = (),
        display_name: str | None = None,
    ) -> User:
        if organisation is None and role is not Role.ADMIN:
            raise ValueError("care staff must belong to an organisation")
        check_password_strength(password, role.value, (username, display_name))
        user = User(
            f"u-{secrets.token_hex(8)}",
            username,
            display_name or username,
            role,
            organisation,
            tuple(sorted(teams)),
        )
        try:
            with transaction(self._conn):
                self._conn.execute(
                    "INSERT INTO auth_user (id, username, display_name, role, organisation_id,"
                    " password_hash, created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        user.id,
                        username,
                        user.display_name,
                        role.value,
                        organisation,
                        self._hasher.hash(password),
                        to_micros(self._clock()),
                    ),
                )
                self._conn.executemany(
                    "INSERT INTO auth_team_member (user_id, team_id) VALUES (?, ?)",
                    [(user.id, t) for t in user.teams],
                )
        except sqlite3.IntegrityError as exc:
            raise UserExistsError(username) from exc
        return user

    def user(self, user_id: str) -> User | None:
        row = self._conn.execute(
            "SELECT id, username, display_name, role, organisation_id FROM auth_user"
            " WHERE id = ? AND active = 1",
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        teams = self._conn.execute(
            "SELECT team_id FROM auth_team_member WHERE user_id = ? ORDER BY team_id", (user_id,)
        ).fetchall()
        return User(row[0], row[1], row[2], Role(row[3]), row[4], tuple(t[0] for t in teams))

    def account(self, username: str) -> tuple[str, bool] | None:
        """The id of the user with this name (active or not) and whether it is active."""
        row = self._conn.execute(
            "SELECT id, active FROM auth_user WHERE username = ?", (username,)
        ).fetchone()
        return (str(row[0]), bool(row[1])) if row else None

    def activate(self, user_id: str) -> None:
        """Let a deactivated user sign in again (with the password it had)."""
        self._conn.execute("UPDATE auth_user SET active = 1 WHERE id = ?", (user_id,))

    def deactivate(self, user_id: str) -> None:
        with transaction(self._conn):
            self._conn.execute("UPDATE auth_user SET active = 0 WHERE id = ?", (user_id,))
            now = to_micros(self._clock())
            self._conn.execute(
                "UPDATE auth_session SET ended_us = ? WHERE user_id = ? AND ended_us IS NULL",
                (now, user_id),
            )

    def check_password(self, username: str, password: str) -> User | None:
        """The active user with this name and password, or None (same work either way)."""
        row = self._conn.execute(
            "SELECT id, password_hash FROM auth_user WHERE username = ? AND active = 1",
            (username,),
        ).fetchone()
        stored = row[1] if row else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            self._conn.execute(
                "UPDATE auth_user SET password_hash = ? WHERE id = ?",
                (self._hasher.hash(password), row[0]),
            )
        return self.user(row[0])

    def set_password(self, user_id: str, password: str, *, keep_session: str | None = None) -> None:
        """Change the password and end every session of the user but ``keep_session``
        (the one making the change, if any): whoever knew the old password is signed out.

        Raises :class:`WeakPasswordError` (a ``ValueError``) for a password the policy refuses.
        """
        row = self._conn.execute(
            "SELECT role, username, display_name FROM auth_user WHERE id = ?", (user_id,)
        ).fetchone()
        if row is None:
            raise ValueError(f"no user {user_id!r}")
        check_password_strength(password, row[0], (row[1], row[2]))
        kept = _sha256(keep_session) if keep_session else ""
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE auth_user SET password_hash = ? WHERE id = ?",
                (self._hasher.hash(password), user_id),
            )
            self._conn.execute(
                "UPDATE auth_session SET ended_us = ? WHERE user_id = ? AND ended_us IS NULL"
                " AND id_sha256 != ?",
                (to_micros(self._clock()), user_id, kept),
            )

    # -- API tokens ------------------------------------------------------------------------

    def issue_token(self, user_id: str, name: str, ttl: timedelta | None = None) -> str:
        """A new API token for an integration; returned once, stored only as its hash."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        self._conn.execute(
            "INSERT INTO auth_token (token_sha256, user_id, name, created_us, expires_us)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                _sha256(token),
                user_id,
                name,
                to_micros(now),
                to_micros(now + ttl) if ttl is not None else None,
            ),
        )
        return token

    def tokens(self, organisations: frozenset[str] | None) -> list[TokenInfo]:
        """API tokens of the users of these organisations (None: all), newest first."""
        sql = (
            "SELECT t.token_sha256, t.name, u.username, u.organisation_id, t.created_us,"
            " t.expires_us, t.revoked_us FROM auth_token t JOIN auth_user u ON u.id = t.user_id"
        )
        if organisations is None:
            rows = self._conn.execute(f"{sql} ORDER BY t.created_us DESC")
        else:
            marks = ", ".join("?" * len(organisations))
            rows = self._conn.execute(
                f"{sql} WHERE u.organisation_id IN ({marks}) ORDER BY t.created_us DESC",
                sorted(organisations),
            )
        return [TokenInfo.of(row) for row in rows]

    def token_info(self, token_id: str) -> TokenInfo | None:
        """One token by its id (:attr:`TokenInfo.id`)."""
        found = [t for t in self.tokens(None) if t.id == token_id]
        return found[0] if found else None

    def revoke_token_id(self, token_id: str) -> bool:
        """Revoke the token with this id; False if there is none or it was already revoked."""
        cur = self._conn.execute(
            "UPDATE auth_token SET revoked_us = ? WHERE token_sha256 = ? AND revoked_us IS NULL",
            (to_micros(self._clock()), token_id),
        )
        return cur.rowcount == 1

    def revoke_token(self, token: str) -> None:
        self._conn.execute(
            "UPDATE auth_token SET revoked_us = ? WHERE token_sha256 = ?",
            (to_micros(self._clock()), _sha256(token)),
        )

    def user_for_token(self, token: str) -> User | None:
        row = self._conn.execute(
            "SELECT user_id, expires_us, revoked_us FROM auth_token WHERE token_sha256 = ?",
            (_sha256(token),),
        ).fetchone()
        if row is None or row[2] is not None:
            return None
        if row[1] is not None and from_micros(row[1]) <= self._clock():
            return None
        return self.user(row[0])

    # -- sessions --------------------------------------------------------------------------

    def start_session(self, user_id: str, ttl: timedelta, address: str | None = None) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        self._conn.execute(
            "INSERT INTO auth_session (id_sha256, user_id, created_us, expires_us, address)"
            " VALUES (?, ?, ?, ?, ?)",
            (_sha256(session_id), user_id, to_micros(now), to_micros(now + ttl), address),
        )
        return session_id

    def end_session(self, session_id: str) -> None:
        self._conn.execute(
            "UPDATE auth_session SET ended_us = ? WHERE id_sha256 = ? AND ended_us IS NULL",
            (to_micros(self._clock()), _sha256(session_id)),
        )

    def user_for_session(self, session_id: str) -> User | None:
        row = self._conn.execute(
            "SELECT user_id, expires_us, ended_us FROM auth_session WHERE id_sha256 = ?",
            (_sha256(session_id),),
        ).fetchone()
        if row is None or row[2] is not None:
            return None
        if from_micros(row[1]) <= self._clock():
            return None
        return self.user(row[0])

    def expire_sessions(self, now: datetime) -> int:
        """Delete sessions that ended or expired before ``now``; return how many."""
        cur = self._conn.execute(
            "DELETE FROM auth_session WHERE expires_us <= ? OR ended_us IS NOT NULL",
            (to_micros(now),),
        )
        return cur.rowcount
