"""Staff authentication: Argon2 passwords, roles and organisations, API tokens, sessions,
sign-in throttling (injected clock) and the FastAPI dependencies; on SQLite and PostgreSQL
(:mod:`tests.support.hub_db`), and across two hub nodes sharing one database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from foundation.clock import ManualClock
from hub.auth import (
    SESSION_COOKIE,
    Authenticator,
    InvalidCredentialsError,
    LoginThrottle,
    Role,
    ThrottleLimits,
    TooManyAttemptsError,
    User,
    UserExistsError,
    UserStore,
    current_user,
    fast_hasher,
    install_auth,
    require_role,
)
from hub.auth import views as auth_views
from hub.auth import web as web_auth
from hub.db import Connection
from tests.support.hub_db import HubDatabases

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LIMITS = ThrottleLimits(free_failures=2, per_address=8)


class Env:
    """One hub node's authentication; ``shared``: its throttle keeps failures in the database."""

    def __init__(self, conn: Connection, clock: ManualClock, *, shared: bool = True) -> None:
        self.clock = clock
        self.conn = conn
        self.users = UserStore(self.conn, self.clock, fast_hasher())
        self.throttle = LoginThrottle(self.clock, LIMITS, conn if shared else None)
        self.auth = Authenticator(self.users, self.throttle, session_ttl=timedelta(hours=8))


@pytest.fixture
def env(hub_db: Connection) -> Env:
    return Env(hub_db, ManualClock(T0))


def test_passwords_are_argon2_hashes_and_checked(env: Env) -> None:
    user = env.users.create_user("Anna", "correct horse battery", Role.CARE_STAFF, "org-a")
    [stored] = env.conn.execute("SELECT password_hash FROM auth_user").fetchone()
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert env.users.check_password("anna", "correct horse battery") == user  # name: any case
    assert env.users.check_password("anna", "wrong horse battery") is None
    assert env.users.check_password("nobody", "correct horse battery") is None
    with pytest.raises(UserExistsError):
        env.users.create_user("ANNA", "another password", Role.CARE_STAFF, "org-a")
    with pytest.raises(ValueError, match="at least 10"):
        env.users.create_user("bo", "short", Role.CARE_STAFF, "org-a")
    with pytest.raises(ValueError, match="organisation"):
        env.users.create_user("carl", "long enough pw", Role.CARE_STAFF, None)


def test_organisation_visibility(env: Env) -> None:
    staff = env.users.create_user(
        "anna", "long enough pw", Role.CARE_STAFF, "org-a", teams=("n", "d")
    )
    org_admin = env.users.create_user("olga", "long enough pw", Role.ADMIN, "org-a")
    root = env.users.create_user("root", "long enough pw", Role.ADMIN, None)
    assert staff.teams == ("d", "n")
    assert staff.organisations() == frozenset({"org-a"})
    assert staff.may_see("org-a")
    assert not staff.may_see("org-b")
    assert not staff.may_see(None)
    assert org_admin.organisations() == frozenset({"org-a"})
    assert root.organisations() is None
    assert root.may_see("org-b")
    assert env.users.user(staff.id) == staff


def test_api_tokens_are_hashed_expire_and_can_be_revoked(env: Env) -> None:
    user = env.users.create_user("integration", "long enough pw", Role.CARE_STAFF, "org-a")
    token = env.users.issue_token(user.id, "careline", ttl=timedelta(days=1))
    assert token.startswith("hjt_")
    assert (
        env.conn.execute(
            "SELECT COUNT(*) FROM auth_token WHERE token_sha256 = ?", (token,)
        ).fetchone()[0]
        == 0
    )
    assert env.users.user_for_token(token) == user
    assert env.users.user_for_token(token + "x") is None
    env.clock.advance(hours=24)
    assert env.users.user_for_token(token) is None  # expired
    other = env.users.issue_token(user.id, "other")
    env.users.revoke_token(other)
    assert env.users.user_for_token(other) is None


def test_sessions_expire_end_and_die_with_the_user(env: Env) -> None:
    user = env.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a")
    _, session = env.auth.sign_in("anna", "long enough pw", "10.0.0.5")
    assert len(session) >= 40
    assert env.users.user_for_session(session) == user
    env.clock.advance(hours=8)
    assert env.users.user_for_session(session) is None
    _, second = env.auth.sign_in("anna", "long enough pw", "10.0.0.5")
    env.auth.sign_out(second)
    assert env.users.user_for_session(second) is None
    _, third = env.auth.sign_in("anna", "long enough pw", "10.0.0.5")
    env.users.deactivate(user.id)
    assert env.users.user_for_session(third) is None
    assert env.users.expire_sessions(env.clock.now()) == 3


def test_a_confirmed_session_outlasts_a_database_outage_for_a_while(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = env.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a")
    _, confirmed = env.auth.sign_in("anna", "long enough pw", None)
    _, ended = env.auth.sign_in("anna", "long enough pw", None)
    env.auth.sign_out(ended)
    unknown = "a session this node never saw"

    def down(session_id: str) -> None:
        raise sqlite3.OperationalError("connection refused")  # as PgError is, too

    monkeypatch.setattr(env.users, "user_for_session", down)
    assert env.auth.authenticate(None, confirmed) == user  # the board keeps its banner
    for refused in (ended, unknown):
        with pytest.raises(sqlite3.OperationalError):
            env.auth.authenticate(None, refused)
    monkeypatch.setattr(web_auth, "OUTAGE_GRACE_S", -1.0)  # confirmed too long ago
    with pytest.raises(sqlite3.OperationalError):
        env.auth.authenticate(None, confirmed)


@pytest.mark.parametrize("shared", [True, False], ids=["in-database", "in-memory"])
def test_failed_sign_ins_are_throttled_per_user_address_pair_and_per_address(
    hub_db: Connection, shared: bool
) -> None:
    env = Env(hub_db, ManualClock(T0), shared=shared)
    env.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a")
    for _ in range(2):  # free failures
        with pytest.raises(InvalidCredentialsError):
            env.auth.sign_in("anna", "guess", "10.0.0.9")
    waits = []
    for _ in range(4):  # then each failure doubles the wait of this pair
        with pytest.raises(InvalidCredentialsError):
            env.auth.sign_in("anna", "guess", "10.0.0.9")
        with pytest.raises(TooManyAttemptsError) as info:
            env.auth.sign_in("anna", "long enough pw", "10.0.0.9")  # right password, refused
        assert info.value.scope == "user and address"
        waits.append(info.value.retry_after_s)
        env.clock.advance(info.value.retry_after_s)
    assert waits == [1, 2, 4, 8]
    user, _ = env.auth.sign_in("anna", "long enough pw", "10.0.0.1")  # another address: fine
    assert user.username == "anna"
    user, _ = env.auth.sign_in("anna", "long enough pw", "10.0.0.9")  # waited: fine, resets
    with pytest.raises(InvalidCredentialsError):
        env.auth.sign_in("anna", "guess", "10.0.0.9")
    # one address guessing many user names
    for name in ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"):
        with pytest.raises(InvalidCredentialsError):
            env.auth.sign_in(name, "guess", "10.6.6.6")
    with pytest.raises(TooManyAttemptsError) as by_address:
        env.auth.sign_in("anna", "long enough pw", "10.6.6.6")
    assert (by_address.value.scope, by_address.value.retry_after_s) == ("address", 900)
    env.clock.advance(900)
    assert env.auth.sign_in("anna", "long enough pw", "10.6.6.6")[0].username == "anna"


def test_any_node_serves_a_signed_in_user_and_sees_the_failures(hub_dbs: HubDatabases) -> None:
    clock = ManualClock(T0)
    one, two = Env(hub_dbs.open(), clock), Env(hub_dbs.open(), clock)
    one.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a")
    user, session = one.auth.sign_in("anna", "long enough pw", "10.0.0.5")
    assert two.users.user_for_session(session) == user  # a request landing on the other node
    assert two.users.csrf_key == one.users.csrf_key  # its CSRF tokens check on both
    token = two.users.issue_token(user.id, "careline")
    assert one.users.user_for_token(token) == user
    for env in (one, two, one):  # failures on alternate nodes add up
        with pytest.raises(InvalidCredentialsError):
            env.auth.sign_in("anna", "guess", "10.0.0.9")
    with pytest.raises(TooManyAttemptsError):
        two.auth.sign_in("anna", "long enough pw", "10.0.0.9")
    one.auth.sign_out(session)
    assert two.users.user_for_session(session) is None


def test_throttle_bounds_its_memory(env: Env) -> None:
    throttle = LoginThrottle(env.clock, ThrottleLimits(max_tracked=10))
    for i in range(50):
        throttle.failure(f"user{i}", f"10.1.0.{i}")
    assert len(throttle._pairs) == 10  # the bound is the point
    assert len(throttle._addresses) == 10


def _app(env: Env) -> FastAPI:
    app = FastAPI()
    install_auth(app, env.auth)

    @app.get("/me")
    async def me(user: Annotated[User, Depends(current_user)]) -> dict[str, str]:
        return {"username": user.username, "role": user.role.value}

    @app.get("/admin")
    async def admin(user: Annotated[User, Depends(require_role(Role.ADMIN))]) -> dict[str, str]:
        return {"username": user.username}

    return app


@pytest.mark.asyncio
async def test_fastapi_dependencies(env: Env) -> None:
    staff = env.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a")
    env.users.create_user("root", "long enough pw", Role.ADMIN, None)
    token = env.users.issue_token(staff.id, "test")
    _, root_session = env.auth.sign_in("root", "long enough pw", None)
    transport = httpx.ASGITransport(app=_app(env))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        anonymous = await client.get("/me")
        by_token = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        wrong_scheme = await client.get("/me", headers={"Authorization": f"Basic {token}"})
        staff_admin = await client.get("/admin", headers={"Authorization": f"Bearer {token}"})
        client.cookies.set(SESSION_COOKIE, root_session)
        by_cookie = await client.get("/admin")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert by_token.json() == {"username": "anna", "role": "care_staff"}
    assert wrong_scheme.status_code == 401
    assert staff_admin.status_code == 403
    assert by_cookie.json() == {"username": "root"}


def test_user_views(env: Env) -> None:
    env.users.create_user("anna", "long enough pw", Role.CARE_STAFF, "org-a", teams=("n", "d"))
    env.users.create_user("root", "long enough pw", Role.ADMIN, None, display_name="Root")
    assert [u.username for u in auth_views.users(env.conn, frozenset({"org-a"}))] == ["anna"]
    assert auth_views.display_names(env.conn) == {"anna": "anna", "root": "Root"}
    assert auth_views.organisations_by_username(env.conn) == {"anna": "org-a", "root": None}
    assert auth_views.organisation_of_user(env.conn, "ANNA") == "org-a"  # any case, as sign-in
    assert auth_views.user_rows(env.conn) == [
        ("anna", "care_staff", "org-a", "d,n", "yes"),
        ("root", "admin", "-", "-", "yes"),
    ]
