"""Offering payment after checkout, and the "order unpaid" event with its built-in reminder.

* ``queue_offer`` (called by the bot in the checkout transaction) commits a ``pay.offer`` outbox task: the
  provider is called outside any transaction, retried with backoff when it is down, and the customer gets a
  Telegram invoice (their chat is Telegram and Telegram Payments is connected) or the payment link.
* ``emit_unpaid`` (the order timers, once a minute) finds orders that were offered a payment and are still
  unpaid ``unpaid_after_minutes`` after they were placed, records the event once per order
  (``notification_sent`` key ``order:{id}:unpaid``), writes it to the thread and hands it to the
  ``UNPAID_HANDLERS``. The only built-in handler queues one ``pay.remind`` task (the reminder, with the link);
  the repeat-sales triggers can replace it by replacing that list.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import live_customer, pick_identity
from inbox.core.events import Event, EventBus
from inbox.core.outbox import NoChannel, Task, TaskFactory, TaskRetry, queue_task, register_task
from inbox.core.types import ChannelSource
from inbox.db import SessionFactory
from inbox.models import (
    DRAFT,
    Author,
    NotificationSent,
    Order,
    OrderStatus,
    Payment,
    PaymentAccount,
    Thread,
    utcnow,
)
from inbox.orders import service
from inbox.orders.conversation import Effects, run_order_action, thread_event
from inbox.orders.errors import NotFound, OrdersError
from inbox.orders.notify import channel_kind
from inbox.orders.payments import telegram as tgpay
from inbox.orders.payments.errors import ProviderUnavailable
from inbox.orders.payments.links import send_payment_link
from inbox.orders.payments.service import PaymentLink, due, payment_link
from inbox.orders.sql import insert_ignore
from inbox.settings import Settings

log = logging.getLogger(__name__)
OFFER = "pay.offer"
REMIND = "pay.remind"
UnpaidHandler = Callable[[AsyncSession, Effects, Order], Awaitable[None]]


async def can_offer(session: AsyncSession) -> bool:
    """A provider is connected (a YooKassa shop, or Telegram Payments)."""
    row = (
        await session.execute(select(PaymentAccount.id).where(PaymentAccount.enabled.is_(True)).limit(1))
    ).first()
    return row is not None


async def queue_offer(session: AsyncSession, order: Order) -> bool:
    """In the checkout transaction: offer payment for the order once it commits (False: no provider)."""
    if not await can_offer(session):
        return False
    queue_task(session, OFFER, str(order.id), {"order_id": order.id})
    return True


async def _reminder_text(order: Order, link: PaymentLink, locale: str | None) -> dict[str, str]:
    from inbox.orders.notify import format_rub

    amount = format_rub(link.amount)
    with i18n.use_locale(locale):
        values = {"n": order.number, "a": amount, "url": link.url}
        return {
            "messenger": i18n._("A reminder: order №%(n)s is waiting for payment (%(a)s).") % values,
            "sms": i18n._("Order №%(n)s is waiting for payment (%(a)s): %(url)s") % values,
            "email": i18n._("A reminder: order №%(n)s is waiting for payment (%(a)s). Pay online: %(url)s")
            % values,
        }


def _payment_task(kind: str) -> TaskFactory:
    def build(
        factory: SessionFactory,
        bus: EventBus,
        settings: Settings,
        wake: Callable[[], None],
        hub: ChannelSource,
    ) -> Task:
        async def run(payload: dict[str, Any]) -> None:
            order_id = int(payload["order_id"])
            async with factory() as session:
                order = await service.get_order(session, order_id)
                if due(order) <= 0 or order.status == DRAFT:
                    return  # paid meanwhile: nothing to offer
                thread = await session.get(Thread, order.thread_id) if order.thread_id else None
                customer = await live_customer(session, order.customer_id)
                ident = await pick_identity(session, customer, thread) if thread else None
            if kind == OFFER and ident is not None and ident.kind == "telegram":
                try:
                    await tgpay.send_invoice(factory, hub.get, settings, order_id)
                    return
                except NotFound:
                    pass  # no Telegram Payments for this bot: the link below
                except ProviderUnavailable as exc:
                    raise TaskRetry(exc.reason) from exc
            try:
                link = await payment_link(factory, settings, order_id)
            except ProviderUnavailable as exc:
                raise TaskRetry(exc.reason) from exc
            except NotFound:
                return  # no provider connected any more

            async def send(session: AsyncSession, fx: Effects) -> None:
                current = await service.get_order(session, order_id)
                message = await send_payment_link(session, fx, current, link, author=Author.BOT)
                if kind == REMIND:
                    locale = (
                        await live_customer(session, current.customer_id)
                    ).locale or settings.default_locale
                    texts = await _reminder_text(current, link, locale)
                    kind_of = channel_kind(message.channel)  # its notice_text: messenger, sms, email
                    message.text = texts[kind_of]
                    message.meta = {**message.meta, "texts": texts, "reminder": "unpaid"}

            try:
                await run_order_action(factory, bus, settings, send, wake)
            except NoChannel:
                return

        async def give_up(payload: dict[str, Any], reason: str) -> None:
            async def act(session: AsyncSession, fx: Effects) -> None:
                order = await service.get_order(session, int(payload["order_id"]))
                await thread_event(session, fx, order, "payment_offer_failed", reason=reason[:500])

            try:
                await run_order_action(factory, bus, settings, act, wake)
            except OrdersError:
                log.warning("payment offer for %s given up: %s", payload, reason)

        return Task(run=run, give_up=give_up)

    return build


async def builtin_reminder(session: AsyncSession, fx: Effects, order: Order) -> None:
    """The single built-in reminder: one ``pay.remind`` task (the link again, with a reminder text). It
    stands aside while an enabled "order_unpaid" trigger rule of the sales module reminds instead."""
    from inbox.models import TriggerRule

    sales_rule = (
        await session.execute(
            select(TriggerRule.id)
            .where(TriggerRule.event == "order_unpaid", TriggerRule.enabled.is_(True))
            .limit(1)
        )
    ).first()
    if sales_rule is not None:
        return
    queue_task(session, REMIND, str(order.id), {"order_id": order.id})
    fx.queued = True


UNPAID_HANDLERS: list[UnpaidHandler] = [builtin_reminder]


async def emit_unpaid(
    session: AsyncSession, fx: Effects, minutes: int, now: datetime | None = None
) -> list[int]:
    """Record "order.unpaid" once for each order offered a payment and still unpaid ``minutes`` after it was
    placed (open statuses only); returns their ids."""
    if minutes <= 0:
        return []
    now = now or utcnow()
    offered = exists().where(Payment.order_id == Order.id)
    done_key = exists().where(
        and_(NotificationSent.order_id == Order.id, NotificationSent.key == "order:" + _id_text() + ":unpaid")
    )
    rows = (
        await session.execute(
            select(Order)
            .join(OrderStatus, OrderStatus.code == Order.status)
            .where(
                Order.payment_state == "unpaid",
                Order.paid_amount < Order.total,
                Order.submitted_at.is_not(None),
                Order.submitted_at <= now - timedelta(minutes=minutes),
                OrderStatus.group.in_(("new", "approval", "assembling")),
                offered,
                ~done_key,
            )
            .order_by(Order.id)
            .limit(200)
        )
    ).scalars()
    emitted: list[int] = []
    for order in list(rows):
        key = f"order:{order.id}:unpaid"
        stmt = insert_ignore(session, NotificationSent, {"key": key, "order_id": order.id})
        if (await session.execute(stmt.returning(NotificationSent.id))).first() is None:
            continue
        await thread_event(session, fx, order, "unpaid", due=due(order))
        fx.events.append(
            Event(
                "order.unpaid",
                thread_id=order.thread_id,
                customer_id=order.customer_id,
                data={"order_id": order.id, "number": order.number, "due": due(order)},
            )
        )
        for handler in UNPAID_HANDLERS:
            await handler(session, fx, order)
        emitted.append(order.id)
    return emitted


def _id_text() -> Any:
    from sqlalchemy import String, cast

    return cast(Order.id, String)


register_task(OFFER, _payment_task(OFFER))
register_task(REMIND, _payment_task(REMIND))
