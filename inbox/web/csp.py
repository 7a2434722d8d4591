"""The Content-Security-Policy of the inbox's own pages: scripts only from our static files (no inline
script, no eval), no plugins, no <base> tricks, never framed. Responses that bring their own policy keep it
(the sandboxed email HTML frame, attachments). The Swagger page of ``/api/schema`` gets the same policy: it
has no inline script (inbox.web.swagger)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import Message, Scope

APP_CSP = "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"


async def add_csp(message: Message, scope: Scope) -> None:
    """A before_send hook: the policy on every HTML page that has none of its own."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    headers = MutableScopeHeaders.from_message(message)
    if "content-security-policy" in headers:
        return
    if not (headers.get("content-type") or "").startswith("text/html"):
        return
    headers["Content-Security-Policy"] = APP_CSP
