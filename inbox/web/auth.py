"""Manager sign-in: argon2 passwords, server-side sessions, CSRF (configured in app.py); API bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from inbox import i18n
from inbox.core.security import token_digest, verify_password
from inbox.db import transaction
from inbox.models import ApiToken, Manager, utcnow
from inbox.web.state import ctx

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


@post("/login", name="login")
async def login(
    request: AnyRequest, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Template | Redirect:
    i18n.set_locale(request.cookies.get("lang"))
    email = (data.get("email") or "").strip().lower()
    password = data.get("password") or ""
    try:
        async with ctx(request).factory() as session:
            manager = (
                await session.execute(select(Manager).where(Manager.email == email))
            ).scalar_one_or_none()
    except SQLAlchemyError:
        manager = None
    if manager is None or not manager.active or not verify_password(manager.password_hash, password):
        return Template(
            "login.html",
            context={"error": i18n._("Wrong email or password."), "email": email},
            status_code=401,
        )
    request.clear_session()
    request.set_session({"manager_id": manager.id})
    return Redirect(path="/")


@post("/logout", name="logout")
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect(path="/login")
