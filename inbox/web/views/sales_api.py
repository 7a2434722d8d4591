"""REST API of repeat sales under /api/v1 (bearer tokens): segments, broadcasts, carts.

Errors answer with Litestar's JSON error body; ``detail`` carries the reason (in the default locale)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from inbox.core.threads import BadCursor, decode_cursor, encode_cursor
from inbox.db import transaction
from inbox.models import Broadcast, Segment
from inbox.sales import NotFound, SalesError, broadcasts, carts, segments
from inbox.sales import config as sales_config
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


class ConditionIn(msgspec.Struct, forbid_unknown_fields=True):
    field: str
    op: str
    value: Any = None


class SegmentIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: str = "dynamic"  # dynamic | static
    conditions: list[ConditionIn] = []
    customer_ids: list[int] = []  # static segments
    on_dashboard: bool = False


class SegmentOut(msgspec.Struct):
    id: int
    name: str
    kind: str
    conditions: list[dict[str, Any]]
    on_dashboard: bool
    count: int
    created_at: datetime


class SegmentPage(msgspec.Struct):
    items: list[SegmentOut]
    next: str | None


class MemberOut(msgspec.Struct):
    id: int
    name: str
    phone: str | None
    email: str | None
    preferred_channel: str | None


class MemberPage(msgspec.Struct):
    items: list[MemberOut]
    next: str | None


def client_error(exc: Exception) -> ClientException:
    if isinstance(exc, NotFound):
        return NotFoundException(str(exc))
    return ClientException(str(exc), status_code=400)


async def segment_out(session: Any, segment: Segment, config: sales_config.SalesConfig) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        kind=segment.kind,
        conditions=list(segment.conditions),
        on_dashboard=segment.on_dashboard,
        count=await segments.count(session, segments.members_query(segment, config)),
        created_at=segment.created_at,
    )


class SegmentsApi(Controller):
    tags = ["segments"]

    @get("/segments", name="api_segments")
    async def list_segments(self, request: AnyRequest) -> SegmentPage:
        """Every segment with its current member count."""
        async with ctx(request).factory() as session:
            config = await sales_config.load(session)
            items = [await segment_out(session, s, config) for s in await segments.list_segments(session)]
        return SegmentPage(items=items, next=None)

    @post("/segments", name="api_segment_create", status_code=201)
    async def create(self, request: AnyRequest, data: JSONBody[SegmentIn]) -> SegmentOut:
        """A dynamic segment by ``conditions`` (all must hold) or a static one by ``customer_ids``."""
        try:
            async with transaction(ctx(request).factory) as session:
                segment = await segments.create_segment(
                    session,
                    data.name,
                    kind=data.kind,
                    conditions=[msgspec.to_builtins(c) for c in data.conditions],
                    customer_ids=data.customer_ids,
                    on_dashboard=data.on_dashboard,
                )
                return await segment_out(session, segment, await sales_config.load(session))
        except (SalesError, NotFound) as exc:
            raise client_error(exc) from exc

    @get("/segments/{segment_id:int}/customers", name="api_segment_customers")
    async def customers(
        self,
        request: AnyRequest,
        segment_id: FromPath[int],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> MemberPage:
        """The segment's live members by id."""
        if not 1 <= limit <= 1000:
            raise ClientException("limit must be between 1 and 1000")
        after = 0
        if cursor:
            try:
                after = int(str(decode_cursor(cursor)[0]))
            except (BadCursor, IndexError, ValueError) as exc:
                raise ClientException("malformed cursor") from exc
        async with ctx(request).factory() as session:
            try:
                segment = await segments.get_segment(session, segment_id)
            except NotFound as exc:
                raise client_error(exc) from exc
            config = await sales_config.load(session)
            rows = await segments.member_page(session, segment, config, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return MemberPage(
            items=[MemberOut(c.id, c.name, c.phone, c.email, c.preferred_channel) for c in rows],
            next=encode_cursor(rows[-1].id) if more and rows else None,
        )


class ButtonIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    url: str


class BroadcastIn(msgspec.Struct, forbid_unknown_fields=True):
    segment_id: int
    text: str
    buttons: list[ButtonIn] | None = None
    send_at: datetime | None = None  # ISO 8601 with a zone; none: now


class StatsOut(msgspec.Struct):
    recipients: int
    planned: int
    queued: int
    skipped: dict[str, int]  # reason -> customers: no_channel | no_consent | vk_not_allowed | failed
    delivery: dict[str, int]  # queued | sent | delivered | read | failed
    replied: int
    unsubscribed: int
    orders: int  # placed by recipients within the attribution window
    revenue: int  # their total, kopecks


class BroadcastOut(msgspec.Struct):
    id: int
    segment_id: int
    text: str
    buttons: list[dict[str, Any]]
    status: str  # scheduled | sending | done | cancelled
    send_at: datetime
    planned_at: datetime | None
    finished_at: datetime | None
    statistics: StatsOut


async def broadcast_out(session: Any, broadcast: Broadcast) -> BroadcastOut:
    st = await broadcasts.statistics(session, broadcast)
    return BroadcastOut(
        id=broadcast.id,
        segment_id=broadcast.segment_id,
        text=broadcast.text,
        buttons=list(broadcast.buttons),
        status=broadcast.status,
        send_at=broadcast.send_at,
        planned_at=broadcast.planned_at,
        finished_at=broadcast.finished_at,
        statistics=StatsOut(
            st.recipients,
            st.planned,
            st.queued,
            st.skipped,
            st.delivery,
            st.replied,
            st.unsubscribed,
            st.orders,
            st.revenue,
        ),
    )


class BroadcastsApi(Controller):
    tags = ["broadcasts"]

    @post("/broadcasts", name="api_broadcast_create", status_code=201)
    async def create(self, request: AnyRequest, data: JSONBody[BroadcastIn]) -> BroadcastOut:
        """A message to a segment, sent at ``send_at`` (now when absent) to the members who agreed to
        marketing on their preferred channel; each copy carries an unsubscribe for its channel."""
        app = ctx(request)
        if data.send_at is not None and data.send_at.tzinfo is None:
            raise ClientException("send_at needs a time zone (2026-12-01T10:00:00+03:00)")
        try:
            async with transaction(app.factory) as session:
                broadcast = await broadcasts.create_broadcast(
                    session,
                    segment_id=data.segment_id,
                    text=data.text,
                    buttons=[msgspec.to_builtins(b) for b in data.buttons or []],
                    send_at=data.send_at,
                )
                out = await broadcast_out(session, broadcast)
        except (SalesError, NotFound) as exc:
            raise client_error(exc) from exc
        app.workers.sales.wake()
        return out

    @get("/broadcasts/{broadcast_id:int}", name="api_broadcast")
    async def show(self, request: AnyRequest, broadcast_id: FromPath[int]) -> BroadcastOut:
        """The broadcast with its statistics: recipients, skipped (why), delivery, replies, unsubscribes and
        the orders attributed to it."""
        async with ctx(request).factory() as session:
            try:
                broadcast = await broadcasts.get_broadcast(session, broadcast_id)
            except NotFound as exc:
                raise client_error(exc) from exc
            return await broadcast_out(session, broadcast)


class CartLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    qty: int
    price: int  # kopecks per unit
    name: str | None = None


class CartIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[CartLineIn]
    phone: str | None = None
    email: str | None = None
    customer_id: str | None = None  # the shop's signed id: "<id>.<hex HMAC-SHA256(id, shop webhook secret)>"
    external_id: str | None = None  # the site's own cart id (POST with a known one updates that cart)
    url: str | None = None  # where the customer finishes the purchase
    status: str = "open"  # open | ordered | closed
    name: str = ""


class CartOut(msgspec.Struct):
    id: int
    customer_id: int
    source: str
    external_id: str | None
    lines: list[dict[str, Any]]
    total: int
    url: str | None
    status: str
    reminded_at: datetime | None
    updated_at: datetime


def cart_out(cart: Any) -> CartOut:
    return CartOut(
        cart.id,
        cart.customer_id,
        cart.source,
        cart.external_id,
        list(cart.lines),
        cart.total,
        cart.url,
        cart.status,
        cart.reminded_at,
        cart.updated_at,
    )


class CartsApi(Controller):
    tags = ["carts"]

    async def _save(self, request: AnyRequest, data: CartIn, cart_id: int | None) -> CartOut:
        app = ctx(request)
        try:
            lines = carts.check_lines([msgspec.to_builtins(x) for x in data.lines])
            async with transaction(app.factory) as session:
                customer = await carts.customer_for(
                    session,
                    app.settings.shop_webhook_secret,
                    phone=data.phone,
                    email=data.email,
                    signed_id=data.customer_id,
                    name=data.name,
                )
                cart = await carts.upsert_site_cart(
                    session,
                    customer,
                    external_id=data.external_id,
                    lines=lines,
                    url=data.url,
                    cart_id=cart_id,
                    status=data.status,
                )
                return cart_out(cart)
        except (SalesError, NotFound) as exc:
            raise client_error(exc) from exc

    @post("/carts", name="api_cart_create", status_code=201)
    async def create(self, request: AnyRequest, data: JSONBody[CartIn]) -> CartOut:
        """A cart started on the shop's site, so that the abandoned-cart rule sees it too."""
        return await self._save(request, data, None)

    @put("/carts/{cart_id:int}", name="api_cart_update")
    async def update(self, request: AnyRequest, cart_id: FromPath[int], data: JSONBody[CartIn]) -> CartOut:
        """The cart's new lines, link or status (``ordered`` when the customer bought it)."""
        return await self._save(request, data, cart_id)
