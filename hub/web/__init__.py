"""The care-staff dashboard: server-rendered pages, live alert board, JSON API.

``hub.web.routes.install_dashboard(app, alerts=service)`` adds it to the hub's FastAPI app (see
``docs/dashboard.md``).
"""
