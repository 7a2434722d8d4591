"""Public REST API under /api/v1 (bearer tokens). List endpoints return {"items": [...], "next": cursor}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox.channels.email.links import email_headers, norm_id
from inbox.core.customers import live_customer
from inbox.core.merge import live_thread
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.threads import BadCursor, list_threads, thread_messages
from inbox.models import Customer, Direction, Message, Order
from inbox.web.state import ctx
from inbox.web.views.customer_schema import CustomerOut, customer_out

AnyRequest = Request[Any, Any, Any]


class DeliveryOut(msgspec.Struct):
    state: str
    error: str | None


class AttachmentOut(msgspec.Struct):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    url: str | None


class OrderRefOut(msgspec.Struct):
    id: int
    number: int | None  # None for a draft
    status: str
    total: int  # minor units


class EmailOut(msgspec.Struct):
    subject: str | None
    message_id: str | None  # without angle brackets
    in_reply_to: str | None
    auto: bool  # an auto-reply, bounce or bulk letter


class MessageOut(msgspec.Struct):
    id: int
    thread_id: int
    customer_id: int
    direction: str
    channel: str | None
    author: str
    text: str | None
    attachments: list[AttachmentOut]
    delivery: DeliveryOut
    created_at: datetime
    edited_at: datetime | None
    external_id: str | None
    # note | event kind (assigned, status, merge, order …) | None for a customer's or shop's message
    kind: str | None = None
    order: OrderRefOut | None = None  # the order this message or letter is linked to
    email: EmailOut | None = None  # letters only


class ThreadOut(msgspec.Struct):
    id: int
    customer_id: int
    customer_name: str
    status: str
    assignee_id: int | None
    last_message_at: datetime
    preview: str
    unread: int
    channels: list[str]
    orders: list[OrderRefOut] = []  # the thread's orders, newest first (drafts included)


class ThreadPage(msgspec.Struct):
    items: list[ThreadOut]
    next: str | None


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next: str | None


class PostMessage(msgspec.Struct):
    text: str
    channel: str | None = None


def _kind(m: Message) -> str | None:
    if m.direction == Direction.NOTE:
        return "note"
    if m.direction == Direction.EVENT:
        return str((m.meta or {}).get("kind") or (m.meta or {}).get("event") or "event")
    return None


def _email(m: Message) -> EmailOut | None:
    if m.channel != "email":
        return None
    headers = email_headers(m)
    message_id = norm_id(headers.get("message_id")) or (
        norm_id(m.external_id) if m.direction == "out" else None
    )
    subject = headers.get("subject") or (m.meta or {}).get("subject")
    return EmailOut(
        subject=str(subject) if subject is not None else None,
        message_id=message_id,
        in_reply_to=norm_id(headers.get("in_reply_to")),
        auto=bool((m.meta or {}).get("auto")),
    )


def order_ref(o: Order) -> OrderRefOut:
    return OrderRefOut(o.id, o.number, o.status, o.total)


async def orders_by_id(session: AsyncSession, messages: list[Message]) -> dict[int, OrderRefOut]:
    ids = {m.order_id for m in messages if m.order_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Order).where(Order.id.in_(ids)))
    return {o.id: order_ref(o) for o in rows.scalars()}


async def orders_of_threads(session: AsyncSession, thread_ids: list[int]) -> dict[int, list[OrderRefOut]]:
    found: dict[int, list[OrderRefOut]] = {t: [] for t in thread_ids}
    if not thread_ids:
        return found
    rows = await session.execute(
        select(Order).where(Order.thread_id.in_(thread_ids)).order_by(Order.id.desc())
    )
    for o in rows.scalars():
        if o.thread_id is not None:
            found[o.thread_id].append(order_ref(o))
    return found


def message_out(m: Message, orders: dict[int, OrderRefOut] | None = None) -> MessageOut:
    return MessageOut(
        id=m.id,
        thread_id=m.thread_id,
        customer_id=m.customer_id,
        direction=m.direction,
        channel=m.channel,
        author=m.author,
        text=m.text,
        attachments=[
            AttachmentOut(
                a.id,
                a.kind,
                a.filename,
                a.content_type,
                a.size,
                f"/attachments/{a.id}/{a.filename}" if a.path else None,
            )
            for a in m.attachments
        ],
        delivery=DeliveryOut(m.delivery, m.delivery_error),
        created_at=m.created_at,
        edited_at=m.edited_at,
        external_id=m.external_id,
        kind=_kind(m),
        order=(orders or {}).get(m.order_id) if m.order_id is not None else None,
        email=_email(m),
    )


class ApiV1(Controller):
    """Mounted by app.py under /api/v1 on a router whose before_request is require_token."""

    @get("/threads", name="api_threads")
    async def threads(
        self,
        request: AnyRequest,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
        status: FromQuery[str | None] = None,
    ) -> ThreadPage:
        if not 1 <= limit <= 200:
            raise ClientException("limit must be between 1 and 200")
        try:
            async with ctx(request).factory() as session:
                rows, nxt = await list_threads(session, limit=limit, cursor=cursor, status=status)
                orders = await orders_of_threads(session, [r.id for r in rows])
        except BadCursor as exc:
            raise ClientException(str(exc)) from exc
        return ThreadPage(
            items=[
                ThreadOut(
                    id=r.id,
                    customer_id=r.customer_id,
                    customer_name=r.customer_name,
                    status=r.status,
                    assignee_id=r.assignee_id,
                    last_message_at=r.last_message_at,
                    preview=r.last_preview,
                    unread=r.unread_count,
                    channels=list(r.channels),
                    orders=orders[r.id],
                )
                for r in rows
            ],
            next=nxt,
        )

    @get("/threads/{thread_id:int}/messages", name="api_thread_messages")
    async def messages(
        self,
        request: AnyRequest,
        thread_id: FromPath[int],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> MessagePage:
        """Newest page first; ``next`` pages back in time. Items within a page are chronological."""
        if not 1 <= limit <= 500:
            raise ClientException("limit must be between 1 and 500")
        before = None
        if cursor:
            if not cursor.isdigit():
                raise ClientException("malformed cursor")
            before = int(cursor)
        async with ctx(request).factory() as session:
            live = await live_thread(session, thread_id)  # merged customers' old thread ids keep working
            if live is None:
                raise NotFoundException(f"no thread {thread_id}")
            rows = await thread_messages(session, live.id, limit=limit, before_id=before)
            orders = await orders_by_id(session, rows)
        nxt = str(rows[0].id) if len(rows) == limit else None
        return MessagePage(items=[message_out(m, orders) for m in rows], next=nxt)

    @get("/orders/{number:int}/messages", name="api_order_messages")
    async def order_messages(
        self,
        request: AnyRequest,
        number: FromPath[int],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> MessagePage:
        """The letters and messages linked to the order, chronological; ``next`` pages back in time."""
        if not 1 <= limit <= 500:
            raise ClientException("limit must be between 1 and 500")
        if cursor and not cursor.isdigit():
            raise ClientException("malformed cursor")
        async with ctx(request).factory() as session:
            order = (await session.execute(select(Order).where(Order.number == number))).scalar_one_or_none()
            if order is None:
                raise NotFoundException(f"no order {number}")
            query = (
                select(Message)
                .where(Message.order_id == order.id)
                .options(selectinload(Message.attachments))
                .order_by(Message.id.desc())
                .limit(limit)
            )
            if cursor:
                query = query.where(Message.id < int(cursor))
            rows = list((await session.execute(query)).scalars())
            rows.reverse()
        ref = {order.id: order_ref(order)}
        nxt = str(rows[0].id) if len(rows) == limit else None
        return MessagePage(items=[message_out(m, ref) for m in rows], next=nxt)

    @post("/threads/{thread_id:int}/messages", name="api_post_message", status_code=201)
    async def post_message(
        self, request: AnyRequest, thread_id: FromPath[int], data: JSONBody[PostMessage]
    ) -> MessageOut:
        text = data.text.strip()
        if not text:
            raise ClientException("text must not be empty")
        if len(text) > 10_000:
            raise ClientException("text is longer than 10000 characters")
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                thread = await live_thread(session, thread_id)
                if thread is None:
                    raise NotFoundException(f"no thread {thread_id}")
                message = await enqueue(session, thread, Draft(text=text, channel=data.channel))
        except NoChannel as exc:
            raise ClientException(str(exc), status_code=409) from exc
        app.wake_dispatcher()
        return message_out(message)

    @get("/customers/{customer_id:int}", name="api_customer")
    async def customer(self, request: AnyRequest, customer_id: FromPath[int]) -> CustomerOut:
        async with ctx(request).factory() as session:
            row = await session.get(Customer, customer_id)
            if row is None:
                raise NotFoundException(f"no customer {customer_id}")
            return await customer_out(session, await live_customer(session, customer_id), customer_id)
