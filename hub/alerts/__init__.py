"""Hjem alerts: validated rules, a pure evaluation core with an injected clock, a persisted
acknowledge/escalate lifecycle with an append-only audit log, and notifications (retained
MQTT AlertEvents, signed webhooks, a live server-sent-event stream). See docs/alerts.md.

Kept import-light (``hub.config`` imports :mod:`hub.alerts.settings`); import the
submodules you need.
"""
