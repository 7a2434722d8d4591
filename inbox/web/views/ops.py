"""Operations endpoints: ``/readyz`` (for the load balancer) and ``/metrics`` (Prometheus), plus the ASGI
middleware that times every HTTP request."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from typing import Any

from litestar import Request, get
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from inbox import health, logs, metrics
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


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_QUIET = ("/healthz", "/readyz", "/metrics", "/static/", "/events")
access_log = logging.getLogger("inbox.access")


def timing_middleware(app: ASGIApp) -> ASGIApp:
    """Per HTTP request: a request id (the proxy's ``X-Request-ID`` when it is sane, else a new one) that
    every log line of the request carries and the response returns; one access log line; the latency under
    the route template (``/threads/{thread_id}``), so that the label set stays small. SSE streams are not
    timed (they last as long as the browser stays)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.fullmatch(incoming) else logs.new_request_id()
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        path = scope.get("path", "")
        try:
            await app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            if path != "/events":
                route = str(scope.get("path_template") or "unmatched")
                metrics.HTTP_LATENCY.labels(method=method, route=route, status=str(status)).observe(elapsed)
            access_log.log(
                logging.DEBUG if path.startswith(_QUIET) else logging.INFO,
                "%s %s %s %.1fms",
                method,
                path,
                status,
                elapsed * 1000,
                extra={"method": method, "path": path, "status": status, "ms": round(elapsed * 1000, 1)},
            )
            logs.request_id.reset(token)

    return middleware
