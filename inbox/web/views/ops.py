"""Operations endpoints: ``/readyz`` (for the load balancer) and ``/metrics`` (Prometheus), plus the ASGI
middleware that times every HTTP request."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from litestar import Request, get
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from inbox import health, metrics
from inbox.i18n import _
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


@get("/readyz", name="readyz", include_in_schema=False)
async def readyz(request: AnyRequest) -> Response[dict[str, Any]]:
    """200 when this process can serve: database (and Redis) answer and every worker role is alive."""
    app = ctx(request)
    result = await health.check(app.factory, app.settings.redis_url)
    return Response(
        {"status": "ok" if result.ready else "unavailable", "checks": result.checks},
        status_code=200 if result.ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def _allowed(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n) for n in networks)


@get("/metrics", name="metrics", include_in_schema=False)
async def metrics_view(request: AnyRequest) -> Response[bytes]:
    app = ctx(request)
    client = request.client.host if request.client else None
    if not _allowed(client, app.settings.metrics_allow):
        raise PermissionDeniedException(_("Metrics are open only to the addresses in INBOX_METRICS_ALLOW."))
    body = await metrics.render(app.factory)
    return Response(body, media_type=metrics.CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def timing_middleware(app: ASGIApp) -> ASGIApp:
    """Observe each HTTP request's latency under its route template (``/threads/{thread_id}``), so
    that the label set stays small; SSE streams are left out (they last as long as the browser stays)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("path") == "/events":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            metrics.HTTP_LATENCY.labels(
                method=scope.get("method", ""), route=route, status=str(status)
            ).observe(time.perf_counter() - started)

    return middleware
