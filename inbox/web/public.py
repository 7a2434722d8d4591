"""Mounts the public routes channels register (``ChannelSpec.public``): each prefix becomes a Litestar route
outside the managers' session and CSRF middleware; requests and answers are translated to and from the
framework-neutral :class:`~inbox.channels.public.PublicRequest` / ``PublicResponse``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import HttpMethod, Request, Response, route
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from inbox.channels.public import PublicContext, PublicError, PublicHandler, PublicRequest, PublicRoutes
from inbox.channels.registry import SPECS
from inbox.web.proxy import client_ip
from inbox.web.state import AppContext, ctx

log = logging.getLogger(__name__)
AnyRequest = Request[Any, Any, Any]
METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.OPTIONS, HttpMethod.DELETE]


def registered() -> list[tuple[str, PublicRoutes]]:
    return [(kind, spec.public) for kind, spec in SPECS.items() if spec.public is not None]


def public_prefixes() -> tuple[str, ...]:
    """What the session middleware must leave alone."""
    out: list[str] = []
    for _kind, routes in registered():
        for prefix in routes.prefixes:
            out.append(prefix)
            if prefix.endswith("/"):
                out.append(prefix.rstrip("/"))
    return tuple(out)


def public_context(app: AppContext) -> PublicContext:
    plugin = app.channels

    @asynccontextmanager
    async def subscribe(channels: list[str]) -> AsyncIterator[AsyncIterator[str]]:
        async with plugin.start_subscription(channels) as sub:

            async def events() -> AsyncIterator[str]:
                async for raw in sub.iter_events():
                    yield raw.decode() if isinstance(raw, bytes) else str(raw)

            yield events()

    return PublicContext(
        factory=app.factory,
        settings=app.settings,
        bus=app.bus,
        limiter=app.workers.dispatcher.limiter,
        account=app.workers.hub.config,
        store_events=app.workers.sink_for,
        subscribe=subscribe,
        wake_outbox=app.wake_dispatcher,
    )


def _mount(kind: str, routes: PublicRoutes) -> HTTPRouteHandler:
    handler: PublicHandler = routes.load()
    paths: list[str] = []
    for prefix in routes.prefixes:
        if prefix.endswith("/"):
            paths += [prefix.rstrip("/"), prefix + "{rest:path}"]
        else:
            paths.append(prefix)

    async def serve(request: AnyRequest) -> Response[Any]:
        app = ctx(request)
        context: PublicContext | None = getattr(request.app.state, "public_context", None)
        if context is None:
            context = request.app.state.public_context = public_context(app)
        path = request.url.path
        prefix = next(
            (p for p in routes.prefixes if path == p or path == p.rstrip("/") or path.startswith(p)), path
        )
        rest = path[len(prefix) :] if path.startswith(prefix) else ""
        preq = PublicRequest(
            method=request.method,
            prefix=prefix,
            path=rest,
            headers={k.lower(): v for k, v in request.headers.items()},
            query={k: v for k, v in request.query_params.items() if isinstance(v, str)},
            body=await request.body() if request.method in ("POST", "PUT", "DELETE") else b"",
            client_ip=client_ip(request.scope, app.settings.trusted_proxies),
            context=context,
        )
        try:
            answer = await handler(preq)
        except PublicError as exc:
            return Response(
                {"detail": exc.reason},
                status_code=exc.status,
                headers=exc.headers,
                media_type="application/json",
            )
        if answer.stream is not None:
            return Stream(
                answer.stream, status_code=answer.status, media_type=answer.media_type, headers=answer.headers
            )
        return Response(
            answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers
        )

    return route(path=paths, http_method=METHODS, name=f"public_{kind}", include_in_schema=False)(serve)


def public_route_handlers() -> list[HTTPRouteHandler]:
    return [_mount(kind, routes) for kind, routes in registered()]
