"""The administrative audit log on SQLite and PostgreSQL: filed under every organisation the
action touched, read back per organisation, refused UPDATE and DELETE by the database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from hub.admin.audit import admin_actions, record_admin_action
from hub.db import Connection

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_entries_are_filed_per_organisation_and_append_only(hub_db: Connection) -> None:
    record_admin_action(
        hub_db,
        time=T,
        actor="root",
        organisation=None,
        action="assign_device",
        target="cuff",
        detail={"from": "r-a", "to": "r-b"},
        affected=("org-a", "org-b", None),
    )
    record_admin_action(
        hub_db,
        time=T,
        actor="olga",
        organisation="org-a",
        action="add_user",
        target="anna",
        detail={},
    )
    assert [a.action for a in admin_actions(hub_db, frozenset({"org-b"}))] == ["assign_device"]
    assert [a.target for a in admin_actions(hub_db, frozenset({"org-a"}))] == ["anna", "cuff"]
    [moved] = admin_actions(hub_db, None)[1:]
    assert (moved.time, moved.detail) == (T, {"from": "r-a", "to": "r-b"})
    for statement in (
        "UPDATE web_admin_audit SET actor = 'x'",
        "DELETE FROM web_admin_audit",
        "DELETE FROM web_admin_audit_org",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            hub_db.execute(statement)
    assert len(admin_actions(hub_db, None)) == 2
