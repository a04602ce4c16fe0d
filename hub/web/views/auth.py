"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.auth.errors import InvalidCredentialsError, TooManyAttemptsError
from hub.web.csrf import PRE_SESSION_COOKIE, SESSION_COOKIE, new_pre_session_value
from hub.web.i18n import LANG_COOKIE, LANGUAGES, translator
from hub.web.site import Page, PageRoute, authenticator_of, public_page, render, token_for

__all__ = ["router", "safe_next"]

router = APIRouter(route_class=PageRoute)
ONE_YEAR_S = 365 * 24 * 3600


def safe_next(target: str | None, default: str = "/board") -> str:
    """A same-site path to go to after a form (never another host: no ``//`` or scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _sign_in_page(
    request: Request,
    *,
    error: str = "",
    username: str = "",
    next_url: str = "/board",
    status_code: int = 200,
    notice: str = "",
) -> HTMLResponse:
    current = public_page(request)
    fresh = None
    if not current.csrf:
        fresh = new_pre_session_value()
        current = Page(
            request, None, current.t, token_for(request, fresh), current.settings, current.now
        )
    response = render(
        current,
        "sign_in.html",
        status_code=status_code,
        error=error,
        username=username,
        next_url=safe_next(next_url),
        notice=notice,
    )
    if fresh is not None:
        response.set_cookie(
            PRE_SESSION_COOKIE, fresh, httponly=True, samesite="lax", secure=_secure(request)
        )
    return response


@router.get("/", include_in_schema=False)
async def home() -> Response:
    return RedirectResponse("/board", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, next: str = "/board") -> Response:  # noqa: A002
    session = request.cookies.get(SESSION_COOKIE)
    if session and authenticator_of(request).users.user_for_session(session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    notice = public_page(request).t("auth.signed_out") if signed_out else ""
    return _sign_in_page(request, next_url=next, notice=notice)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/board",  # noqa: A002
) -> Response:
    if not getattr(request.state, "csrf_checked", False):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
    t = public_page(request).t
    address = request.client.host if request.client else None
    auth = authenticator_of(request)
    try:
        _, session = auth.sign_in(username, password, address)
    except TooManyAttemptsError as exc:
        response = _sign_in_page(
            request,
            error=t("auth.throttled", seconds=exc.retry_after_s),
            username=username,
            next_url=next,
            status_code=429,
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except InvalidCredentialsError:
        return _sign_in_page(
            request, error=t("auth.wrong"), username=username, next_url=next, status_code=401
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a new session id on every sign-in; the old one ends (no fixation)
        auth.sign_out(previous)
    done = RedirectResponse(safe_next(next), status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=int(auth.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    done.delete_cookie(PRE_SESSION_COOKIE)
    return done


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        authenticator_of(request).sign_out(session)
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


@router.post("/language")
async def set_language(
    request: Request,
    lang: Annotated[str, Form()],
    next: Annotated[str, Form(max_length=2048)] = "/board",  # noqa: A002
) -> Response:
    if lang not in LANGUAGES:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unsupported language {lang!r}")
    translator(lang)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, lang, max_age=ONE_YEAR_S, samesite="lax", secure=_secure(request)
    )
    return response
