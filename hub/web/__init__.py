"""The care-staff dashboard: server-rendered pages, live alert board, JSON API.

``install_dashboard(app, alerts=service)`` adds it to the hub's FastAPI app (see
``docs/dashboard.md``).
"""

from __future__ import annotations

from hub.web.site import WebSettings, install_dashboard

__all__ = ["WebSettings", "install_dashboard"]
