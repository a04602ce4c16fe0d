"""What the dashboard reads, from the component that owns each table: the registry
(:mod:`hub.registry.views`, :mod:`hub.registry.ownership`), staff accounts
(:mod:`hub.auth.views`), the alert audit log (:mod:`hub.alerts.history`) and the
administrative audit log (:mod:`hub.admin.audit`).
This module holds no SQL of its own.
"""

from __future__ import annotations

from hub.admin.audit import (
    AdminAction,
    admin_actions,
    ensure_schema,
    record_admin_action,
)
from hub.alerts.history import AlertAuditRow, Resolution, alert_audit, resolutions
from hub.auth.views import UserView, display_names, users
from hub.registry.ownership import organisation_of_home, organisation_of_resident
from hub.registry.views import (
    AssignmentView,
    DeviceView,
    HomeView,
    ResidentView,
    TeamView,
    assignments_of_device,
    device,
    device_exists,
    devices,
    devices_of_resident,
    homes,
    resident,
    resident_names,
    residents,
    teams,
)

__all__ = [
    "AdminAction",
    "AlertAuditRow",
    "AssignmentView",
    "DeviceView",
    "HomeView",
    "ResidentView",
    "Resolution",
    "TeamView",
    "UserView",
    "admin_actions",
    "alert_audit",
    "assignments_of_device",
    "device",
    "device_exists",
    "devices",
    "devices_of_resident",
    "display_names",
    "ensure_schema",
    "homes",
    "organisation_of_home",
    "organisation_of_resident",
    "record_admin_action",
    "resident",
    "resident_names",
    "residents",
    "resolutions",
    "teams",
    "users",
]
