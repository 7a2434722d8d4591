"""Orders in the conversation: what follows an order change inside the same transaction.

* a system event in the customer's thread (order created, status changed, tracking set), rendered inline;
* the customer notification (``notify.plan_notification``) queued in the outbox on the preferred channel,
  with the text for every channel kind kept in ``meta["texts"]`` for the outbox fallback;
* a signed shop webhook (``INBOX_SHOP_WEBHOOK_URL``) as an outbox row of kind "webhook".

``run_order_action`` wraps it all for the web and the API: one transaction, then the events are published
and the outbox (dispatcher and webhook sender) woken.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import live_customer, pick_identity
from inbox.core.events import Event, EventBus, emit
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.system_events import add_system_event
from inbox.core.types import Button
from inbox.db import SessionFactory
from inbox.models import Author, Message, Order, Outbox, Thread, utcnow
from inbox.orders import webhooks
from inbox.orders.notify import NotificationRequest, channel_kind, plan_notification
from inbox.orders.service import StatusChange
from inbox.settings import Settings

T = TypeVar("T")


@dataclass(slots=True)
class Effects:
    """Side effects collected during one transaction: events to publish, whether the outbox got work."""

    settings: Settings
    events: list[Event] = field(default_factory=list)
    queued: bool = False


# --- thread events ---------------------------------------------------------------------------------------


async def thread_event(
    session: AsyncSession, fx: Effects, order: Order, event: str, **data: Any
) -> Message | None:
    """A system line in the order's thread: {"kind": "order", "event": created|status|tracking, ...}."""
    if order.thread_id is None:
        return None
    return await add_system_event(
        session,
        thread_id=order.thread_id,
        customer_id=order.customer_id,
        kind="order",
        text=f"order:{event}:{order.number or order.id}",
        order_id=order.id,
        meta={"event": event, "order_id": order.id, "number": order.number, **data},
    )


# --- notifications ---------------------------------------------------------------------------------------


async def queue_notification(
    session: AsyncSession, fx: Effects, order: Order, request: NotificationRequest
) -> Message | None:
    """Send the planned notification on the customer's preferred usable channel (text for its kind)."""
    if order.thread_id is None:
        return None
    thread = await session.get(Thread, order.thread_id)
    if thread is None:  # pragma: no cover - FK guarantees it
        return None
    customer = await live_customer(session, order.customer_id)
    ident = await pick_identity(session, customer, thread)
    if ident is None:
        await thread_event(session, fx, order, "not_notified", reason="no channel", status=request.status)
        return None
    kind = channel_kind(ident.kind)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if kind == "messenger" and request.data.get("tracking_url"):
        label = request.buttons[0].text if request.buttons else "Track"
        buttons = ((Button(label=label, url=str(request.data["tracking_url"])),),)
    draft = Draft(
        text=request.texts[kind],
        author=Author.BOT,
        channel=ident.kind,
        buttons=buttons,
        meta={
            "auto": True,
            "notification": request.idempotency_key,
            "subject": request.email_subject,
            "email_html": request.email_html,
            "texts": request.texts,
        },
        order_id=order.id,
    )
    try:
        message = await enqueue(session, thread, draft)
    except NoChannel:  # pragma: no cover - pick_identity found one above
        return None
    fx.queued = True
    return message


# --- shop webhooks ---------------------------------------------------------------------------------------


async def queue_webhook(session: AsyncSession, fx: Effects, order: Order, event: str) -> Outbox | None:
    """A signed POST to the shop (when configured), sent and retried by orders/webhook_sender.py."""
    url = fx.settings.shop_webhook_url
    if not url:
        return None
    delivery = f"{event}:{order.id}:{uuid.uuid4().hex}"
    body, headers = webhooks.signed_request(
        fx.settings.shop_webhook_secret, await webhooks.order_payload(session, order, event), delivery
    )
    row = Outbox(
        message_id=None,
        account_id=None,
        chat_id=f"webhook:order:{order.id}",
        kind="webhook",
        payload={"url": url, "body": body.decode(), "headers": headers},
        next_attempt_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    fx.queued = True
    return row


# --- what follows each change ----------------------------------------------------------------------------


async def after_status(
    session: AsyncSession, fx: Effects, change: StatusChange, *, notify: bool = True
) -> Message | None:
    """Thread event, customer notification (once per status entry) and webhook for a status change.
    Returns the notification message, if one was queued."""
    if not change.changed:
        return None
    order = change.order
    if change.from_status == "draft" and order.number is None:  # a draft discarded: the shop never knew
        data = {"from": change.from_status, "to": order.status, "names": dict(change.status.names)}
        await thread_event(session, fx, order, "status", **data)
        return None
    if change.from_status == "draft":
        names = dict(change.status.names)
        await thread_event(session, fx, order, "created", status=order.status, total=order.total, names=names)
        await queue_webhook(session, fx, order, "order.created")
    else:
        data = {"from": change.from_status, "to": order.status, "names": dict(change.status.names)}
        await thread_event(session, fx, order, "status", **data)
        await queue_webhook(session, fx, order, "order.status")
    if not notify:
        return None
    request = await plan_notification(
        session, order, change.status, default_locale=fx.settings.default_locale
    )
    if request is None:
        return None
    return await queue_notification(session, fx, order, request)


async def after_tracking(session: AsyncSession, fx: Effects, order: Order) -> None:
    await thread_event(
        session,
        fx,
        order,
        "tracking",
        carrier=order.carrier,
        track=order.tracking_number,
        url=order.tracking_url,
    )
    await queue_webhook(session, fx, order, "order.tracking")


async def run_order_action(
    factory: SessionFactory,
    bus: EventBus,
    settings: Settings,
    action: Callable[[AsyncSession, Effects], Awaitable[T]],
    wake: Callable[[], None] | None = None,
) -> T:
    """Run ``action`` in one transaction; after the commit publish the domain and thread events and wake
    the dispatcher when something was queued. On error nothing is published."""
    fx = Effects(settings)
    async with bus.transaction(factory) as session:
        result = await action(session, fx)
        emit(session, *fx.events)
    if fx.queued and wake is not None:
        wake()
    return result
