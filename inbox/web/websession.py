"""Browser sessions and CSRF in one ASGI middleware.

- Sessions live server-side in our database (shared by every process). The cookie holds a random id that the
  server issued: an id we never stored is ignored (no fixation), a new id is issued at sign-in
  (``rotate_session``) and the row is deleted at sign-out. Nothing is stored for anonymous visitors.
- CSRF: a signed-in session carries its own random token (synchronizer token, new with every session id);
  anonymous forms (the sign-in page) use a signed double-submit cookie. A token minted for one session or for
  an anonymous visitor never passes with another session's cookie. Forms send ``_csrf_token``, htmx sends the
  ``x-csrftoken`` header.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.stores.base import Store
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from inbox.i18n import _
from inbox.keys import Keyring

SESSION_COOKIE = "session"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
CSRF_FIELD = "_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROTATE_KEY = "inbox_rotate_session"
_FORMS = frozenset({RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART})
_SESSION_ID = re.compile(r"[0-9a-f]{64}")
_ANON = re.compile(r"([A-Za-z0-9_-]{32})\.([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class WebSessionConfig:
    store: Store
    keys: Keyring
    https: Callable[[Scope], bool]
    max_age: int = 14 * 24 * 3600
    exclude: tuple[str, ...] = ()


def rotate_session(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """Sign-in: the data goes under a brand-new session id (and a new CSRF token); the old id is dropped."""
    request.scope["session"] = dict(data)
    request.scope.setdefault("state", {})[ROTATE_KEY] = True


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class WebSessionMiddleware:
    def __init__(self, app: ASGIApp, config: WebSessionConfig) -> None:
        self.app = app
        self.config = config

    def _anon_token(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self.config.keys.sign('csrf-anon', nonce)}"

    def _anon_ok(self, token: str) -> bool:
        match = _ANON.fullmatch(token)
        return bool(match) and self.config.keys.verify("csrf-anon", match.group(1), match.group(2))  # type: ignore[union-attr]

    async def _load(self, raw: str | None) -> tuple[str | None, dict[str, Any]]:
        if not raw or not _SESSION_ID.fullmatch(raw):
            return None, {}
        stored = await self.config.store.get(raw)
        if stored is None:
            return None, {}
        try:
            data = json.loads(stored)
        except ValueError:
            return None, {}
        return (raw, data) if isinstance(data, dict) else (None, {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != ScopeType.HTTP or path.startswith(self.config.exclude):
            await self.app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
        cookies = request.cookies
        sid, data = await self._load(cookies.get(SESSION_COOKIE))
        before = _dump(data) if sid else ""
        if sid and not isinstance(data.get("csrf"), str):
            data["csrf"] = secrets.token_urlsafe(32)
        scope["session"] = data
        new_anon: str | None = None
        if sid:
            token = str(data["csrf"])
        else:
            anon = cookies.get(CSRF_COOKIE) or ""
            token = anon if self._anon_ok(anon) else ""
            if not token:
                token = new_anon = self._anon_token()
        ScopeState.from_scope(scope).csrf_token = token

        if request.method not in SAFE_METHODS:
            submitted = request.headers.get(CSRF_HEADER)
            content_type, _params = request.content_type
            if not submitted and content_type in {
                RequestEncodingType.URL_ENCODED,
                RequestEncodingType.MULTI_PART,
            }:
                value = (await request.form()).get(CSRF_FIELD)
                submitted = value if isinstance(value, str) else None
            if (
                new_anon is not None
                or not submitted
                or not hmac.compare_digest(submitted.encode("utf-8", "replace"), token.encode())
            ):
                raise PermissionDeniedException(_("The form has expired: reload the page and try again."))

        async def wrapped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._finish(scope, message, sid, before, new_anon)
            await send(message)

        await self.app(scope, receive, wrapped_send)

    def _cookie(self, scope: Scope, key: str, value: str, **extra: Any) -> str:
        params: dict[str, Any] = {"path": "/", "secure": self.config.https(scope), **extra}
        return Cookie(key=key, value=value, **params).to_header(header="")

    async def _finish(
        self, scope: Scope, message: Message, sid: str | None, before: str, new_anon: str | None
    ) -> None:
        headers = MutableScopeHeaders.from_message(cast(Any, message))
        session = scope.get("session")
        rotate = bool(scope.get("state", {}).get(ROTATE_KEY))
        store = self.config.store
        csrf_cookie: str | None = new_anon
        if session is Empty or not session or not isinstance(session, dict):
            if sid:
                await store.delete(sid)
                headers.add("set-cookie", self._cookie(scope, SESSION_COOKIE, "", max_age=0, httponly=True))
                csrf_cookie = self._anon_token()
        elif sid is None or rotate:
            if sid:
                await store.delete(sid)
            new_id = secrets.token_hex(32)
            session["csrf"] = csrf_cookie = secrets.token_urlsafe(32)
            await store.set(new_id, _dump(session), expires_in=self.config.max_age)
            headers.add(
                "set-cookie",
                self._cookie(
                    scope, SESSION_COOKIE, new_id, max_age=self.config.max_age, httponly=True, samesite="lax"
                ),
            )
        elif _dump(session) != before:
            await store.set(sid, _dump(session), expires_in=self.config.max_age)
        if csrf_cookie is not None:
            headers.add("set-cookie", self._cookie(scope, CSRF_COOKIE, csrf_cookie, samesite="strict"))
