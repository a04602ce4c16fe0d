"""Wiring: templates, static files, CSRF middleware, per-request context and the
sign-in redirect. ``hub.web.routes.install_dashboard(app)`` adds everything to a FastAPI app.

Handlers get a :class:`Page` (the signed-in user, translator, CSRF token, the hub) from the
dependencies :func:`page` (any signed-in user) and :func:`admin_page` (administrators). An
HTML request without a valid session is redirected to the sign-in page; JSON routes use
``hub.auth.current_user`` and answer 401.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from foundation.clock import utcnow
from hub.auth import Authenticator, Role, User
from hub.auth.errors import NotAuthenticatedError
from hub.auth.web import find_authenticator
from hub.db import Connection
from hub.web import queries
from hub.web.csrf import (
    SESSION_COOKIE,
    csrf_secret,
    csrf_token,
)
from hub.web.errors import WebError
from hub.web.formatting import format_age, format_duration, format_time
from hub.web.guard import PAGE_POLICY
from hub.web.i18n import LANG_COOKIE, Translator, pick_language, translator

if TYPE_CHECKING:
    from hub.alerts.service import AlertService
    from hub.service import Hub

__all__ = [
    "AdminPage",
    "CurrentPage",
    "Page",
    "PageRoute",
    "SignInRequiredError",
    "WebSettings",
    "admin_page",
    "alerts_of",
    "authenticator_of",
    "hub_of",
    "language_of",
    "page",
    "public_page",
    "render",
    "token_for",
]

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    # Only our own script runs, even if something slipped past escaping; no framing
    # (clickjacking of the acknowledge buttons); pages with personal data are not cached.
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ALERTS_STATE = "hjem_alerts"
WEB_STATE = "hjem_web"


@dataclass(frozen=True, slots=True)
class WebSettings:
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Europe/Copenhagen"))
    stream_url: str = "/api/v1/alerts/stream"


class SignInRequiredError(WebError):
    """An HTML page was asked for without a valid session; redirect to sign-in."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(next_url)


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


TEMPLATES = Jinja2Templates(env=_environment())


def settings_of(request: Request) -> WebSettings:
    found = getattr(request.app.state, WEB_STATE, None)
    return found if isinstance(found, WebSettings) else WebSettings()


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def alerts_of(request: Request) -> AlertService | None:
    """The alert service: ``app.state.hjem_alerts``, else the running hub's ``alerts``."""
    service = getattr(request.app.state, ALERTS_STATE, None)
    if service is None:
        service = getattr(getattr(request.app.state, "hub", None), "alerts", None)
    return service


def authenticator_of(request: Request) -> Authenticator:
    """The authenticator: ``app.state.hjem_auth``, else the running hub's ``auth``."""
    auth = find_authenticator(request.app)
    if auth is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "authentication is not set up")
    return auth


def token_for(request: Request, cookie: str) -> str:
    """The CSRF token of a (pre-)session cookie value, keyed by this hub's secret ("" when
    authentication is not set up: then no form can succeed)."""
    auth = find_authenticator(request.app)
    return csrf_token(auth.users.csrf_key, cookie) if auth is not None else ""


def language_of(request: Request) -> Translator:
    return translator(pick_language(request.cookies.get(LANG_COOKIE)))


@dataclass(frozen=True, slots=True)
class Page:
    """What every page handler needs about the request."""

    request: Request
    user: User | None
    t: Translator
    csrf: str
    settings: WebSettings
    now: datetime

    @property
    def hub(self) -> Hub:
        return hub_of(self.request)

    @property
    def conn(self) -> Connection:
        return self.hub.conn

    @property
    def orgs(self) -> frozenset[str] | None:
        return self.user.organisations() if self.user else frozenset()

    def actor_names(self) -> dict[str, str]:
        """Username -> display name for audit trails (the rule engine is "system")."""
        return {"system": self.t("audit.system"), **queries.display_names(self.conn)}

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role is Role.ADMIN

    def signed_in(self) -> User:
        if self.user is None:
            raise SignInRequiredError(str(self.request.url.path))
        return self.user


def _now(request: Request) -> datetime:
    hub = getattr(request.app.state, "hub", None)
    clock = getattr(hub, "clock", None)
    return clock() if callable(clock) else utcnow()


def public_page(request: Request) -> Page:
    secret = csrf_secret(request.cookies)
    return Page(
        request=request,
        user=None,
        t=language_of(request),
        csrf=token_for(request, secret) if secret else "",
        settings=settings_of(request),
        now=_now(request),
    )


def page(request: Request) -> Page:
    """Dependency: the page context of a signed-in user, else redirect to sign-in."""
    session = request.cookies.get(SESSION_COOKIE)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not session:
        raise SignInRequiredError(target)
    try:
        user = authenticator_of(request).authenticate(None, session)
    except NotAuthenticatedError:
        raise SignInRequiredError(target) from None
    base = public_page(request)
    return Page(request, user, base.t, token_for(request, session), base.settings, base.now)


def admin_page(current: Annotated[Page, Depends(page)]) -> Page:
    if not current.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, current.t("errors.admin_only"))
    return current


CurrentPage = Annotated[Page, Depends(page)]
AdminPage = Annotated[Page, Depends(admin_page)]


def render(current: Page, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    t, zone, now = current.t, current.settings.zone, current.now
    context: dict[str, Any] = {
        "t": t,
        "lang": t.language,
        "user": current.user,
        "is_admin": current.is_admin,
        "csrf": current.csrf,
        "path": current.request.url.path,
        "stream_url": current.settings.stream_url,
        "now": now,
        "fmt_time": lambda moment: format_time(moment, zone, now, t) if moment else "—",
        "fmt_age": lambda moment: format_age(moment, now, t) if moment else "—",
        "fmt_duration": lambda span: format_duration(span, t),
        "iso": lambda moment: moment.isoformat() if moment else "",
        **values,
    }
    response = TEMPLATES.TemplateResponse(
        current.request, template, context, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


class PageRoute(APIRoute):
    """Dashboard pages: no session -> redirect to sign-in; HTTP errors -> an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequiredError as exc:
                target = f"/sign-in?next={quote(exc.next_url, safe='/')}"
                return RedirectResponse(target, status_code=303)
            except HTTPException as exc:
                if "application/json" in request.headers.get("accept", ""):
                    raise
                return render(
                    public_page(request),
                    "error.html",
                    status_code=exc.status_code,
                    code=exc.status_code,
                    detail=str(exc.detail),
                )

        return wrapped
