"""Security headers on every answer (pages, fragments, API, static files, errors): no framing
(clickjacking), no MIME sniffing, no URLs (thread ids, search terms) leaked to other sites."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = {name.lower(): value for name, value in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in headers]
                if b"frame-ancestors 'self'" in headers.get(b"content-security-policy", b""):
                    # A page meant for our own frames (the sandboxed email HTML): same origin only.
                    extra = [(k, b"SAMEORIGIN" if k == b"x-frame-options" else v) for k, v in extra]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, wrapped)
