"""Public REST API under /api/v1 (bearer tokens). List endpoints return {"items": [...], "next": cursor}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from inbox.core.customers import live_customer
from inbox.core.merge import live_thread
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.threads import BadCursor, list_threads, thread_messages
from inbox.db import transaction
from inbox.models import Customer, Message
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


class ThreadPage(msgspec.Struct):
    items: list[ThreadOut]
    next: str | None


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next: str | None


class PostMessage(msgspec.Struct):
    text: str
    channel: str | None = None


def message_out(m: Message) -> MessageOut:
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
        except BadCursor as exc:
            raise ClientException(str(exc)) from exc
        return ThreadPage(
            items=[
                ThreadOut(
                    id=r.thread.id,
                    customer_id=r.customer.id,
                    customer_name=r.customer.name,
                    status=r.thread.status,
                    assignee_id=r.thread.assignee_id,
                    last_message_at=r.thread.last_message_at,
                    preview=r.thread.last_preview,
                    unread=r.thread.unread_count,
                    channels=list(r.channels),
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
        nxt = str(rows[0].id) if len(rows) == limit else None
        return MessagePage(items=[message_out(m) for m in rows], next=nxt)

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
            async with transaction(app.factory) as session:
                thread = await live_thread(session, thread_id)
                if thread is None:
                    raise NotFoundException(f"no thread {thread_id}")
                message, events = await enqueue(session, thread, Draft(text=text, channel=data.channel))
        except NoChannel as exc:
            raise ClientException(str(exc), status_code=409) from exc
        await app.bus.publish(*events)
        app.wake_dispatcher()
        return message_out(message)

    @get("/customers/{customer_id:int}", name="api_customer")
    async def customer(self, request: AnyRequest, customer_id: FromPath[int]) -> CustomerOut:
        async with ctx(request).factory() as session:
            row = await session.get(Customer, customer_id)
            if row is None:
                raise NotFoundException(f"no customer {customer_id}")
            return await customer_out(session, await live_customer(session, customer_id), customer_id)
