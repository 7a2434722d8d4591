"""The demo payment provider (kind ``demo``): offline, for the demo shop only (``inbox demo`` adds its
account; nothing else does). It answers like YooKassa: a payment made with an idempotence key gets an id and a
confirmation URL, here a local page (``/demo/pay/<id>``) where the customer presses "Pay" or "Decline".
That press is the provider's notification: the payment object it yields goes through ``apply_payment`` in one
order action, the path a YooKassa notification takes after its check against the API (the payment
succeeds, the order turns paid and moves by its status rule, the customer is told in their channel)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import EventBus
from inbox.db import SessionFactory
from inbox.models import Order, Payment, PaymentAccount
from inbox.orders.conversation import Effects, run_order_action
from inbox.orders.errors import NotFound
from inbox.orders.payments.errors import ProviderRefused
from inbox.orders.payments.yookassa import PaymentInfo, YooKassaClient, kopecks

KIND = "demo"
PAGE = "/demo/pay/"


def _base(body: dict[str, Any]) -> str:
    """Where the customer's browser reaches this server: the scheme and host of the return URL."""
    url = str((body.get("confirmation") or {}).get("return_url") or "http://127.0.0.1:8000/")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "http://127.0.0.1:8000"


def payment_object(
    payment_id: str, status: str, amount: int, metadata: dict[str, str], url: str | None
) -> PaymentInfo:
    obj: dict[str, Any] = {
        "id": payment_id,
        "status": status,
        "paid": status == "succeeded",
        "amount": {"value": f"{amount // 100}.{amount % 100:02d}", "currency": "RUB"},
        "metadata": metadata,
        "test": True,
    }
    if url:
        obj["confirmation"] = {"type": "redirect", "confirmation_url": url}
    if status == "succeeded":
        obj["payment_method"] = {"type": "bank_card", "title": "Демо-карта *4242"}
    if status == "canceled":
        obj["cancellation_details"] = {"party": "payer", "reason": "canceled_by_payer"}
    return PaymentInfo(
        id=payment_id,
        status=status,
        amount=amount,
        paid=status == "succeeded",
        confirmation_url=url,
        method="bank_card: Демо-карта *4242" if status == "succeeded" else None,
        refunded=0,
        cancel_reason="canceled_by_payer" if status == "canceled" else None,
        metadata=metadata,
        raw=obj,
    )


class DemoPayClient(YooKassaClient):
    """The payment links of the demo shop: made locally, never over the network."""

    def __init__(self) -> None:
        super().__init__("demo", "demo", "http://demo.invalid")

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> PaymentInfo:
        payment_id = f"demo-{idempotence_key}"[:100]
        amount = kopecks((body.get("amount") or {}).get("value"))
        metadata = {str(k): str(v) for k, v in (body.get("metadata") or {}).items()}
        return payment_object(payment_id, "pending", amount, metadata, _base(body) + PAGE + payment_id)

    async def get_payment(self, payment_id: str) -> PaymentInfo:
        raise ProviderRefused("the demo provider tells its payments from its own page only")


async def find(session: AsyncSession, external_id: str) -> tuple[Payment, Order]:
    """A payment of the demo provider and its order; NotFound for any other."""
    row = (
        await session.execute(
            select(Payment)
            .join(PaymentAccount, PaymentAccount.id == Payment.account_id)
            .where(Payment.external_id == external_id, PaymentAccount.kind == KIND)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no demo payment {external_id}")
    order = await session.get(Order, row.order_id)
    assert order is not None  # a foreign key
    return row, order


async def decide(
    factory: SessionFactory,
    bus: EventBus,
    settings: Any,
    external_id: str,
    pay: bool,
    wake: Callable[[], None] | None = None,
) -> Payment:
    """The customer paid (or declined) on the demo page: the provider's payment object, applied."""
    from inbox.orders.payments.service import (
        apply_payment,
    )  # the service imports the accounts, which import us

    async with factory() as session:
        row, order = await find(session, external_id)
        account_id = row.account_id
        metadata = {"order_id": str(order.id), "order_number": str(order.number)}
        info = payment_object(
            external_id, "succeeded" if pay else "canceled", row.amount, metadata, row.confirmation_url
        )

    async def act(session: AsyncSession, fx: Effects) -> Payment:
        applied = await apply_payment(session, fx, int(account_id or 0), info)
        assert applied is not None  # ours: found above
        return applied

    return await run_order_action(factory, bus, settings, act, wake)
