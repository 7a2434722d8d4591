"""Manager sign-in: argon2 passwords, server-side sessions, CSRF (configured in app.py); API bearer tokens."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

from babel.dates import format_timedelta
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from inbox import i18n
from inbox.core.security import dummy_hash, hash_password, needs_rehash, token_digest, verify_password
from inbox.db import transaction
from inbox.models import ApiToken, Manager, utcnow
from inbox.web.proxy import client_ip
from inbox.web.state import ctx
from inbox.web.throttle import ACCOUNT, CLIENT, LoginThrottle
from inbox.web.websession import rotate_session

# argon2 checks running at once in this process (each holds 19 MiB while it runs)
_password_checks = asyncio.Semaphore(2)

AnyRequest = Request[Any, Any, Any]


async def current_manager(request: AnyRequest) -> Manager | None:
    manager_id = request.session.get("manager_id") if request.scope.get("session") is not None else None
    if not isinstance(manager_id, int):
        return None
    cached = request.scope.get("state", {}).get("manager")
    if isinstance(cached, Manager):
        return cached
    async with ctx(request).factory() as session:
        manager = await session.get(Manager, manager_id)
    if manager is None or not manager.active:
        return None
    request.scope.setdefault("state", {})["manager"] = manager
    return manager


async def require_manager(request: AnyRequest) -> Response[Any] | None:
    """before_request hook: signed-in managers only; others go to the sign-in page."""
    manager = await current_manager(request)
    if manager is None:
        if request.headers.get("hx-request"):
            return Response(content="", status_code=401, headers={"HX-Redirect": "/login"})
        return Redirect(path="/login")
    i18n.set_locale(manager.locale)
    return None


def manager_of(request: AnyRequest) -> Manager:
    manager = request.scope.get("state", {}).get("manager")
    if not isinstance(manager, Manager):
        raise NotAuthorizedException("sign in first")
    return manager


async def require_token(request: AnyRequest) -> None:
    """before_request hook of /api/v1: ``Authorization: Bearer <token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing bearer token: send Authorization: Bearer <token>")
    # The API speaks the client's Accept-Language (English without one): errors are read by developers.
    i18n.set_locale(request.headers.get("accept-language") or "en")
    digest = token_digest(token.strip())
    async with transaction(ctx(request).factory) as session:
        row = (
            await session.execute(select(ApiToken).where(ApiToken.token_sha256 == digest))
        ).scalar_one_or_none()
        if row is None or row.revoked:
            raise NotAuthorizedException("invalid or revoked API token")
        await session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=utcnow()))


@get("/login", name="login_page", sync_to_thread=False)
def login_page(request: AnyRequest, next: FromQuery[str | None] = None) -> Template:
    i18n.set_locale(request.query_params.get("lang") or request.cookies.get("lang"))
    return Template("login.html", context={"error": None, "email": ""})


def _login_page(error: str, email: str, status: int, headers: dict[str, str] | None = None) -> Template:
    return Template(
        "login.html", context={"error": error, "email": email}, status_code=status, headers=headers or {}
    )


def _too_many(seconds: int, email: str) -> Template:
    wait = format_timedelta(timedelta(seconds=max(seconds, 1)), threshold=1.2, locale=i18n.current())
    message = i18n._("Too many sign-in attempts. Try again in %(time)s.") % {"time": wait}
    return _login_page(message, email, 429, {"Retry-After": str(max(seconds, 1))})


@post("/login", name="login")
async def login(
    request: AnyRequest, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Template | Redirect:
    i18n.set_locale(request.cookies.get("lang"))
    app = ctx(request)
    email = (data.get("email") or "").strip().lower()[:320]
    password = data.get("password") or ""
    try:
        async with app.factory() as session:
            manager = (
                await session.execute(select(Manager).where(Manager.email == email))
            ).scalar_one_or_none()
    except SQLAlchemyError:
        manager = None
    if manager is not None:
        i18n.set_locale(manager.locale)  # the lock message in the manager's own language
    throttle = LoginThrottle(app.factory)
    ip = client_ip(request.scope, app.settings.trusted_proxies)
    subjects = [(ACCOUNT, email), (CLIENT, ip)]
    wait = await throttle.retry_after(subjects)
    if wait:
        return _too_many(wait, email)
    # argon2 takes tens of ms of CPU and 19 MiB: off the event loop, two at a time per process (memory stays
    # bounded when many sign in at once); an unknown email is checked against a dummy hash.
    known = manager is not None and manager.active
    async with _password_checks:
        stored = (
            manager.password_hash if manager is not None and known else await asyncio.to_thread(dummy_hash)
        )
        ok = await asyncio.to_thread(verify_password, stored, password)
        if ok and known and manager is not None and needs_rehash(stored):
            rehashed = await asyncio.to_thread(hash_password, password)
        else:
            rehashed = None
    if not (ok and known and manager is not None):
        await throttle.failed(subjects)
        return _login_page(i18n._("Wrong email or password."), email, 401)
    await throttle.succeeded(ACCOUNT, email)
    if rehashed is not None:  # today's parameters from now on
        async with transaction(app.factory) as session:
            await session.execute(
                update(Manager)
                .where(Manager.id == manager.id, Manager.password_hash == stored)
                .values(password_hash=rehashed)
            )
    rotate_session(request, {"manager_id": manager.id})
    return Redirect(path="/")


@post("/logout", name="logout")
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect(path="/login")
