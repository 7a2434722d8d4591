"""Hooks for channels that face the public directly (a website widget, later a web form or a mini-app):
routes a channel package mounts, and a live stream for one outside visitor.

A channel names its routes in its spec (:class:`PublicRoutes`): URL prefixes and one handler, given as
``"module:attr"`` and imported when the app is built. The handler is framework-neutral (channels do not import
the web framework): it gets a :class:`PublicRequest` and returns a :class:`PublicResponse`; the web layer
(``inbox.web.public``) mounts every registered prefix outside the managers' session and CSRF middleware, so
these routes carry their own credentials (a visitor token) and their own origin check.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inbox.core.events import EventBus
from inbox.core.ratelimit import RateLimiter
from inbox.core.types import AccountConfig, RawEvent
from inbox.db import SessionFactory

if TYPE_CHECKING:
    from inbox.settings import Settings

Subscription = Callable[[list[str]], contextlib.AbstractAsyncContextManager[AsyncIterator[str]]]


@dataclass(frozen=True, slots=True)
class PublicContext:
    """What a public handler may use from the running app."""

    factory: SessionFactory
    settings: Settings
    bus: EventBus
    limiter: RateLimiter  # sliding windows (Redis when configured): per visitor, per IP
    account: Callable[[int], Awaitable[AccountConfig | None]]  # an enabled account's configuration
    store_events: Callable[[int, list[RawEvent]], Awaitable[None]]  # commit raw events, wake the processor
    subscribe: Subscription  # live transport: JSON strings published to the named channels
    wake_outbox: Callable[[], None]


@dataclass(frozen=True, slots=True)
class PublicRequest:
    method: str
    prefix: str  # the registered prefix that matched, e.g. "/widget/"
    path: str  # the rest of the path after the prefix ("" for the prefix itself)
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    body: bytes
    client_ip: str
    context: PublicContext

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    def json(self) -> Any:
        """The JSON body, or :class:`PublicError` 400."""
        try:
            return json.loads(self.body or b"null")
        except (ValueError, RecursionError) as exc:
            raise PublicError(400, "the request body is not JSON") from exc


@dataclass(slots=True)
class PublicResponse:
    status: int = 200
    body: bytes = b""
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # a streamed body (server-sent events) instead of ``body``

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> PublicResponse:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status=status, body=body, headers=dict(headers or {}))


class PublicError(Exception):
    """A refused public request: ``status`` and ``reason`` go back as JSON ``{"detail": reason}``."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


PublicHandler = Callable[[PublicRequest], Awaitable[PublicResponse]]


@dataclass(frozen=True, slots=True)
class PublicRoutes:
    """The URL space a channel serves to the public. A prefix ending in "/" covers everything below it;
    any other prefix is one exact path (e.g. "/widget.js")."""

    prefixes: tuple[str, ...]
    handler: str  # "module:attr" of a PublicHandler

    def load(self) -> PublicHandler:
        module_name, _, attr = self.handler.partition(":")
        handler: PublicHandler = getattr(importlib.import_module(module_name), attr)
        return handler


# ---- the visitor-facing live stream ----------------------------------------------------------------

KEEPALIVE_SECONDS = 15.0


def sse_frame(event: str | None, data: str, event_id: str | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def visitor_stream(
    context: PublicContext,
    channels: list[str],
    resync: Callable[[], Awaitable[list[str]]] | None = None,
    select: Callable[[str], Awaitable[str | None]] | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
) -> AsyncIterator[bytes]:
    """Server-sent events for one visitor: what is published to ``channels`` (JSON strings, sent as
    ``message`` events) that ``select`` passes (it may rewrite an event, or drop it with None: a visitor
    must never see another visitor's or a manager-only event), and a comment every ``keepalive`` seconds.
    Pub/sub drops what is published while the visitor is away, so after subscribing, ``resync`` returns what
    the visitor must re-read (sent first)."""

    async def stream() -> AsyncIterator[bytes]:
        async with context.subscribe(channels) as events:
            queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)

            async def pump() -> None:
                async for item in events:
                    chosen = await select(item) if select is not None else item
                    if chosen is not None:
                        await queue.put(chosen)

            pumping = asyncio.create_task(pump())
            try:
                yield sse_frame("hello", "{}")
                for data in await resync() if resync else []:
                    yield sse_frame("message", data)
                while not pumping.done():
                    try:
                        data = await asyncio.wait_for(queue.get(), timeout=keepalive)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    yield sse_frame("message", data)
            finally:
                pumping.cancel()

    return stream()
