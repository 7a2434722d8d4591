"""Payments of an order: the payment link, provider objects applied to our rows, the history.

* ``payment_link`` makes (or reuses) the link for what is still due. The payment row and its idempotence key
  and request body commit *before* the provider is called, so a retry after a timeout sends the same key
  and body and YooKassa answers with the same payment: a customer is never asked to pay twice.
* ``apply_payment`` / ``apply_refund`` take objects read back from the provider's API (notifications are
  not trusted as such). A payment's status only moves forward (pending → waiting_for_capture → succeeded |
  canceled); a redelivered or late notification is a no-op and nothing paid is ever marked unpaid.
* A payment that succeeds adds its amount to ``order.paid_amount`` once; the order turns "paid" when that
  covers the total, and then moves to its status's ``on_paid`` status when the matrix allows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import live_customer
from inbox.db import SessionFactory, transaction
from inbox.models import DRAFT, Order, Payment, PaymentAccount, Product, Refund, utcnow
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, thread_event
from inbox.orders.errors import NotFound, OrderError, TransitionRefused
from inbox.orders.payments.accounts import link_account, yookassa_client
from inbox.orders.payments.errors import ProviderError
from inbox.orders.payments.receipt import ReceiptLine, receipt
from inbox.orders.payments.yookassa import PaymentInfo, RefundInfo, rub
from inbox.orders.statuses import load_statuses
from inbox.settings import Settings

RANK = {"new": 0, "pending": 1, "waiting_for_capture": 2, "succeeded": 3, "canceled": 3}
OPEN = ("new", "pending")


@dataclass(frozen=True, slots=True)
class PaymentLink:
    url: str
    provider: str
    amount: int
    payment_id: int


def due(order: Order) -> int:
    return max(order.total - order.paid_amount, 0)


def payment_summary(order: Order) -> str:
    """unpaid | partial | paid | overpaid: what the panel shows (``payment_state`` keeps unpaid/paid)."""
    if order.paid_amount <= 0:
        return "unpaid"
    if order.paid_amount < order.total:
        return "partial"
    if order.paid_amount > order.total:
        return "overpaid"
    return "paid"


async def has_link_account(session: AsyncSession) -> bool:
    try:
        await link_account(session)
    except NotFound:
        return False
    return True


async def _receipt_lines(session: AsyncSession, order: Order) -> list[ReceiptLine]:
    lines = await service.order_lines(session, order.id)
    vat = {
        pid: code
        for pid, code in (
            await session.execute(
                select(Product.id, Product.vat_code).where(Product.id.in_([ln.product_id for ln in lines]))
            )
        ).all()
    }
    out = [ReceiptLine(ln.name, ln.qty, ln.unit_price, int(vat.get(ln.product_id, 1))) for ln in lines]
    if order.delivery_cost > 0:
        out.append(
            ReceiptLine(order.delivery_method or "Доставка", 1, order.delivery_cost, subject="service")
        )
    return out


async def _request_body(
    session: AsyncSession, order: Order, account: PaymentAccount, amount: int, settings: Settings
) -> dict[str, Any]:
    customer = await live_customer(session, order.customer_id)
    return_url = account.settings.get("return_url") or (settings.public_url or "http://127.0.0.1:8000") + "/"
    body: dict[str, Any] = {
        "amount": {"value": rub(amount), "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": return_url},
        "description": f"Заказ №{order.number}"[:128],
        "metadata": {"order_id": str(order.id), "order_number": str(order.number)},
    }
    data = receipt(await _receipt_lines(session, order), amount, customer.email, customer.phone)
    if data is not None:
        body["receipt"] = data
    return body


async def _prepare(session: AsyncSession, order_id: int, settings: Settings) -> Payment:
    """The payment row for what is due: an open one for the same amount, else a new one (key + body)."""
    order = await service.get_order(session, order_id, lock=True)
    if order.status == DRAFT or order.number is None:
        raise OrderError("submit the draft before asking for payment")
    statuses = await load_statuses(session)
    status = statuses.get(order.status)
    if status is not None and status.group in ("complete", "cancel"):
        raise OrderError(f"order is {order.status}: it can no longer be paid")
    amount = due(order)
    if amount <= 0:
        raise OrderError("the order is already paid in full")
    account = await link_account(session)
    rows = (
        await session.execute(
            select(Payment)
            .where(
                Payment.order_id == order.id,
                Payment.account_id == account.id,
                Payment.status.in_(OPEN),
                Payment.amount == amount,
            )
            .order_by(Payment.id.desc())
        )
    ).scalars()
    for row in rows:
        if row.status == "new" or row.confirmation_url:
            return row
    body = await _request_body(session, order, account, amount, settings)
    row = Payment(
        order_id=order.id,
        account_id=account.id,
        provider=account.kind,
        idempotence_key=str(uuid.uuid4()),
        status="new",
        amount=amount,
        refunded=0,
        raw={"request": body},
    )
    session.add(row)
    await session.flush()
    return row


async def payment_link(factory: SessionFactory, settings: Settings, order_id: int) -> PaymentLink:
    """The URL the customer pays at. ProviderError (Unavailable: retry later; Refused: the reason) when
    the provider cannot make one; the payment row and its key stay for the next try."""
    async with transaction(factory) as session:
        row = await _prepare(session, order_id, settings)
        if row.confirmation_url and row.status == "pending":
            return PaymentLink(row.confirmation_url, row.provider, row.amount, row.id)
        account = await session.get(PaymentAccount, row.account_id)
        assert account is not None
        client = yookassa_client(account, settings)
        key, body, payment_id = row.idempotence_key, dict(row.raw.get("request") or {}), row.id
    try:
        info = await client.create_payment(body, key)
    except ProviderError as exc:
        async with transaction(factory) as session:
            failed = await session.get(Payment, payment_id)
            if failed is not None:
                failed.last_error = exc.reason[:2000]
        raise
    fx = Effects(settings)
    async with transaction(factory) as session:
        row_now = await session.get(Payment, payment_id, with_for_update=True)
        assert row_now is not None
        if row_now.external_id is None:
            row_now.external_id = info.id
        await _apply(session, fx, row_now, info)
        url = row_now.confirmation_url or info.confirmation_url
    if not url:
        raise OrderError("the provider gave no confirmation URL")
    return PaymentLink(url, row.provider, row.amount, payment_id)


async def _on_paid(session: AsyncSession, fx: Effects, order: Order) -> None:
    """The order became fully paid: move it by its status's ``on_paid`` rule (a refused move is flagged)."""
    statuses = await load_statuses(session)
    status = statuses.get(order.status)
    if status is None or not status.on_paid:
        return
    try:
        change = await service.do_change_status(session, order, status.on_paid, actor=service.SYSTEM)
    except TransitionRefused as exc:
        await thread_event(session, fx, order, "move_refused", to=status.on_paid, reason=exc.reason)
        return
    await after_status(session, fx, change)


async def _apply(session: AsyncSession, fx: Effects, row: Payment, info: PaymentInfo) -> bool:
    """Bring ``row`` (locked) up to ``info``; True when the payment has just succeeded."""
    row.raw = {**row.raw, "object": info.raw}
    if info.confirmation_url and not row.confirmation_url:
        row.confirmation_url = info.confirmation_url[:2000]
    if info.method:
        row.method = info.method
    row.last_error = None
    if RANK.get(info.status, 0) <= RANK.get(row.status, 0):
        return False  # redelivered or out of order: never back, never from succeeded to canceled
    old = row.status
    row.status = info.status
    order = await service.get_order(session, row.order_id, lock=True)
    if info.status == "canceled":
        row.cancel_reason = info.cancel_reason
        await thread_event(
            session, fx, order, "payment_canceled", amount=row.amount, reason=info.cancel_reason
        )
        return False
    if info.status != "succeeded":
        return False
    now = utcnow()
    row.paid_at = now
    amount = info.amount or row.amount
    row.amount = amount
    was_paid = order.payment_state == "paid"
    order = await service.do_record_payment(session, order, amount=amount, actor=service.SYSTEM, now=now)
    await thread_event(
        session,
        fx,
        order,
        "payment",
        amount=amount,
        provider=row.provider,
        method=row.method,
        external_id=row.external_id,
        paid=order.paid_amount,
        total=order.total,
        previous=old,
    )
    if order.payment_state == "paid" and not was_paid:
        await _on_paid(session, fx, order)
    return True


async def apply_payment(
    session: AsyncSession, fx: Effects, account_id: int, info: PaymentInfo
) -> Payment | None:
    """A payment object read from the provider. Unknown payments that name one of our orders in their
    metadata are adopted (made elsewhere with our metadata); others are ignored (None)."""
    row = (
        await session.execute(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.external_id == info.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        order_id = info.metadata.get("order_id", "")
        if not order_id.isdigit() or await session.get(Order, int(order_id)) is None:
            return None
        account = await session.get(PaymentAccount, account_id)
        row = Payment(
            order_id=int(order_id),
            account_id=account_id,
            provider=account.kind if account else "yookassa",
            external_id=info.id,
            idempotence_key=f"adopted:{info.id}"[:64],
            status="pending",
            amount=max(info.amount, 1),
            refunded=0,
            raw={},
        )
        session.add(row)
        await session.flush()
    await _apply(session, fx, row, info)
    if info.refunded > row.refunded:
        row.refunded = info.refunded
    return row


async def apply_refund(
    session: AsyncSession, fx: Effects, account_id: int, info: RefundInfo
) -> Refund | None:
    """A refund object read from the provider; counted once when it succeeds."""
    payment = (
        await session.execute(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.external_id == info.payment_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if payment is None:
        return None
    refund = (
        await session.execute(select(Refund).where(Refund.external_id == info.id).with_for_update())
    ).scalar_one_or_none()
    if refund is None:
        refund = Refund(
            payment_id=payment.id,
            order_id=payment.order_id,
            external_id=info.id,
            status="pending",
            amount=info.amount,
        )
        session.add(refund)
        await session.flush()
    if refund.status == "succeeded" or info.status != "succeeded":
        if refund.status == "pending" and info.status == "canceled":
            refund.status = "canceled"
        return refund
    refund.status = "succeeded"
    refund.amount = info.amount
    await session.flush()
    done = (
        await session.execute(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment.id, Refund.status == "succeeded"
            )
        )
    ).scalar_one()
    # the payment object may already have told us (refunded_amount): the two never add up twice
    payment.refunded = max(payment.refunded, int(done))
    order = await service.get_order(session, payment.order_id, lock=True)
    order = await service.do_record_refund(session, order, amount=info.amount, actor=service.SYSTEM)
    await thread_event(
        session, fx, order, "refund", amount=info.amount, provider=payment.provider, external_id=info.id
    )
    return refund


async def payment_history(session: AsyncSession, order_id: int) -> list[dict[str, Any]]:
    """Payments and refunds of the order, oldest first, with provider ids (the API's ``payment.history``)."""
    payments = (
        await session.execute(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id))
    ).scalars()
    refunds = (
        await session.execute(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))
    ).scalars()
    items: list[dict[str, Any]] = []
    by_id: dict[int, str | None] = {}
    for p in payments:
        by_id[p.id] = p.external_id
        items.append(
            {
                "type": "payment",
                "id": p.id,
                "provider": p.provider,
                "provider_id": p.external_id,
                "status": p.status,
                "amount": p.amount,
                "refunded": p.refunded,
                "method": p.method,
                "url": p.confirmation_url,
                "error": p.last_error,
                "created_at": p.created_at.isoformat(),
                "paid_at": p.paid_at.isoformat() if p.paid_at else None,
            }
        )
    for r in refunds:
        items.append(
            {
                "type": "refund",
                "id": r.id,
                "provider_id": r.external_id,
                "payment_provider_id": by_id.get(r.payment_id),
                "status": r.status,
                "amount": r.amount,
                "created_at": r.created_at.isoformat(),
            }
        )
    items.sort(key=lambda i: (str(i["created_at"]), i["type"]))
    return items
