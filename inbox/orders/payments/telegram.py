"""Telegram Payments: an invoice in the chat, the pre-checkout query answered against live stock, the
successful payment recorded.

Both payment updates are taken on a fast path (``on_updates``) that runs *before* the raw update is stored
for the inbound processor, so neither an ingest backlog nor the bot being off delays them:

* ``pre_checkout_query``: Telegram waits at most 10 s for the answer. It is answered in a task of its own
  from a check of the payment, the order and the stock (lines still reserved, or enough free stock).
* ``successful_payment``: recorded in its own transaction before the update is acknowledged (a failure
  makes the webhook answer 500 / the poller fetch again; recording twice is a no-op), then the update is
  skipped by the conversation (it is shown as the order's "payment" event instead).

A payment account of kind ``telegram`` holds the provider token from @BotFather and the id of the Telegram
channel account it belongs to (``settings.channel_id``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import live_customer
from inbox.core.events import EventBus
from inbox.core.secretbox import open_secrets
from inbox.core.types import PermanentSendError, RawEvent, TransientSendError
from inbox.db import SessionFactory, transaction
from inbox.models import DRAFT, Customer, Identity, Payment, PaymentAccount
from inbox.orders import service
from inbox.orders.conversation import Effects, run_order_action, thread_event
from inbox.orders.errors import NotFound, OrderError
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.orders.payments.receipt import receipt
from inbox.orders.payments.service import _apply, _receipt_lines, due
from inbox.orders.payments.yookassa import PaymentInfo
from inbox.orders.statuses import load_statuses
from inbox.orders.stock import available
from inbox.settings import Settings

log = logging.getLogger(__name__)
PAYLOAD_PREFIX = "inbox:"
_tasks: set[asyncio.Task[None]] = set()


class InvoiceChannel(Protocol):
    async def send_invoice(
        self,
        chat_id: str,
        *,
        title: str,
        description: str,
        payload: str,
        provider_token: str,
        prices: list[tuple[str, int]],
        currency: str = "RUB",
        provider_data: str | None = None,
    ) -> str: ...

    async def answer_pre_checkout(
        self, query_id: str, ok: bool, error_message: str | None = None
    ) -> None: ...


GetChannel = Callable[[int], Awaitable[Any]]


async def _account_for(session: AsyncSession, channel_id: int) -> PaymentAccount | None:
    rows = (
        await session.execute(
            select(PaymentAccount).where(PaymentAccount.kind == "telegram", PaymentAccount.enabled.is_(True))
        )
    ).scalars()
    return next((r for r in rows if r.settings.get("channel_id") == channel_id), None)


async def send_invoice(
    factory: SessionFactory, get_channel: GetChannel, settings: Settings, order_id: int
) -> Payment:
    """An invoice for what is due, in the customer's Telegram chat. NotFound when the customer has no
    Telegram chat with a connected payment account; ProviderUnavailable / ProviderRefused from Telegram."""
    async with transaction(factory) as session:
        order = await service.get_order(session, order_id, lock=True)
        if order.status == DRAFT or order.number is None:
            raise OrderError("submit the draft before asking for payment")
        amount = due(order)
        if amount <= 0:
            raise OrderError("the order is already paid in full")
        customer = await live_customer(session, order.customer_id)
        idents = (
            await session.execute(
                select(Identity).where(
                    Identity.customer_id == customer.id,
                    Identity.kind == "telegram",
                    Identity.blocked.is_(False),
                )
            )
        ).scalars()
        account: PaymentAccount | None = None
        ident: Identity | None = None
        for candidate in idents:
            account = await _account_for(session, candidate.account_id)
            if account is not None:
                ident = candidate
                break
        if account is None or ident is None:
            raise NotFound("the customer has no Telegram chat with Telegram Payments connected")
        lines = await _receipt_lines(session, order)
        if amount == order.total:
            prices = [(f"{ln.description} × {ln.qty}", ln.total) for ln in lines]
        else:
            prices = [(f"Заказ №{order.number}", amount)]
        data = receipt(lines, amount, customer.email, customer.phone)
        row = Payment(
            order_id=order.id,
            account_id=account.id,
            provider="telegram",
            idempotence_key=str(uuid.uuid4()),
            status="pending",
            amount=amount,
            refunded=0,
            raw={"request": {"prices": prices}},
        )
        session.add(row)
        await session.flush()
        payment_id, chat_id, channel_id = row.id, ident.external_id, ident.account_id
        token = str(open_secrets(settings, account).get("provider_token", ""))
        with i18n.use_locale(customer.locale or settings.default_locale):
            title = i18n._("Order №%(n)s") % {"n": order.number}
            description = i18n._("Payment for order №%(n)s") % {"n": order.number}
    channel = await get_channel(channel_id)
    if channel is None:
        raise ProviderUnavailable("the Telegram channel account is disabled")
    try:
        await channel.send_invoice(
            chat_id,
            title=title,
            description=description,
            payload=f"{PAYLOAD_PREFIX}{payment_id}",
            provider_token=token,
            prices=prices,
            provider_data=json.dumps({"receipt": data}, ensure_ascii=False) if data else None,
        )
    except (TransientSendError, PermanentSendError) as exc:
        async with transaction(factory) as session:
            failed = await session.get(Payment, payment_id)
            if failed is not None:
                failed.status = "canceled"
                failed.last_error = exc.reason[:2000]
        if isinstance(exc, TransientSendError):
            raise ProviderUnavailable(f"Telegram: {exc.reason}") from exc
        raise ProviderRefused(f"Telegram: {exc.reason}") from exc
    async with factory() as session:
        sent = await session.get(Payment, payment_id)
        assert sent is not None
        return sent


def _payment_id(payload: Any) -> int | None:
    if not isinstance(payload, str) or not payload.startswith(PAYLOAD_PREFIX):
        return None
    tail = payload[len(PAYLOAD_PREFIX) :]
    return int(tail) if tail.isdigit() else None


async def check_pre_checkout(session: AsyncSession, query: Mapping[str, Any]) -> str | None:
    """None when the payment may go ahead; else the reason to show the customer (in their language)."""
    payment_id = _payment_id(query.get("invoice_payload"))
    payment = await session.get(Payment, payment_id) if payment_id else None
    if payment is None or payment.provider != "telegram":
        return i18n._("This invoice is not ours any more. Please ask for a new one.")
    order = await service.get_order(session, payment.order_id)
    customer = await session.get(Customer, order.customer_id)
    with i18n.use_locale(customer.locale if customer else None):
        if (
            payment.status != "pending"
            or query.get("currency") != "RUB"
            or query.get("total_amount") != payment.amount
        ):
            return i18n._("This invoice is out of date. Please ask for a new one.")
        status = (await load_statuses(session)).get(order.status)
        if status is None or status.group in ("complete", "cancel") or due(order) < payment.amount:
            return i18n._("This order can no longer be paid. Please write to us.")
        for line in await service.order_lines(session, order.id):
            if not line.reserved and await available(session, line.product_id, line.warehouse_id) < line.qty:
                return i18n._("Sorry, “%(name)s” has just sold out. Please write to us.") % {
                    "name": line.name
                }
    return None


async def answer_pre_checkout(
    factory: SessionFactory, channel: InvoiceChannel, query: Mapping[str, Any]
) -> None:
    query_id = str(query.get("id") or "")
    if not query_id:
        return
    try:
        async with factory() as session:
            reason = await check_pre_checkout(session, query)
    except Exception:
        log.exception("pre-checkout check failed")
        reason = i18n._("Payment is not possible right now. Please try again in a minute.")
    try:
        await channel.answer_pre_checkout(query_id, reason is None, reason)
    except (TransientSendError, PermanentSendError) as exc:
        log.warning("answerPreCheckoutQuery %s failed: %s", query_id, exc.reason)


async def record_successful_payment(
    factory: SessionFactory,
    bus: EventBus,
    settings: Settings,
    wake: Callable[[], None] | None,
    paid: Mapping[str, Any],
) -> bool:
    """Record a ``successful_payment``; True when it was news (the same charge twice is a no-op)."""
    payment_id = _payment_id(paid.get("invoice_payload"))
    charge = str(paid.get("telegram_payment_charge_id") or "")[:100]
    amount = paid.get("total_amount")
    if payment_id is None or not charge or not isinstance(amount, int) or amount <= 0:
        log.warning("successful_payment without our payload: %s", dict(paid))
        return False

    async def act(session: AsyncSession, fx: Effects) -> bool:
        row = await session.get(Payment, payment_id, with_for_update=True)
        if row is None:
            return False
        if row.external_id is None:
            row.external_id = charge
        info = PaymentInfo(
            id=charge,
            status="succeeded",
            amount=amount,
            paid=True,
            confirmation_url=None,
            method="telegram",
            refunded=0,
            cancel_reason=None,
            metadata={"provider_payment_charge_id": str(paid.get("provider_payment_charge_id") or "")},
            raw=dict(paid),
        )
        news = await _apply(session, fx, row, info)
        if not news and row.status != "succeeded":
            order = await service.get_order(session, row.order_id)
            await thread_event(
                session, fx, order, "payment_check_failed", provider="telegram", reason=row.status
            )
        return news

    return await run_order_action(factory, bus, settings, act, wake)


async def on_updates(
    factory: SessionFactory,
    bus: EventBus,
    settings: Settings,
    get_channel: GetChannel,
    account_id: int,
    events: list[RawEvent],
    wake: Callable[[], None] | None = None,
) -> None:
    """The fast path, called with a batch of raw Telegram updates before they are stored."""
    for ev in events:
        payload = ev.payload
        query = payload.get("pre_checkout_query")
        if isinstance(query, Mapping):
            channel = await get_channel(account_id)
            if channel is not None:
                task = asyncio.create_task(answer_pre_checkout(factory, channel, query))
                _tasks.add(task)
                task.add_done_callback(_tasks.discard)
            continue
        message = payload.get("message")
        if isinstance(message, Mapping) and isinstance(message.get("successful_payment"), Mapping):
            await record_successful_payment(factory, bus, settings, wake, message["successful_payment"])


def has_payment_update(events: list[RawEvent]) -> bool:
    for ev in events:
        if "pre_checkout_query" in ev.payload:
            return True
        message = ev.payload.get("message")
        if isinstance(message, Mapping) and "successful_payment" in message:
            return True
    return False
