"""Provider notifications: accepted durably, then checked against the provider's API by the outbox.

``accept_yookassa`` validates the shape of a YooKassa notification and commits a ``pay.check`` outbox task
with the event and the object id; the webhook answers 200 only after that commit, so YooKassa (which
re-sends until it gets a 200) never loses one. The task reads the payment or refund back from the API
(notifications are unsigned: only the id is trusted) and applies it. A provider that is down or answers
garbage is retried with backoff; when the outbox gives up, the order's thread gets a visible event.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from inbox.core.events import EventBus
from inbox.core.outbox import Task, TaskRetry, queue_task, register_task
from inbox.core.types import ChannelSource
from inbox.db import SessionFactory, transaction
from inbox.models import Order, Payment, Refund
from inbox.orders.conversation import Effects, run_order_action, thread_event
from inbox.orders.errors import NotFound
from inbox.orders.payments.accounts import get_account, yookassa_client
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.orders.payments.service import apply_payment, apply_refund
from inbox.orders.payments.yookassa import parse_notification
from inbox.settings import Settings

log = logging.getLogger(__name__)
CHECK = "pay.check"


class BadNotification(ValueError):
    """Not a notification we can take (the webhook answers 400 with the reason)."""


async def accept_yookassa(factory: SessionFactory, account_id: int, body: bytes) -> None:
    """Validate and queue; NotFound for an unknown account, BadNotification for a malformed body."""
    try:
        note = parse_notification(body)
    except ValueError as exc:
        raise BadNotification(str(exc)) from exc
    async with transaction(factory) as session:
        await get_account(session, account_id, "yookassa")
        queue_task(
            session,
            CHECK,
            f"{account_id}:{note.object_id}",
            {
                "provider": "yookassa",
                "account_id": account_id,
                "event": note.event,
                "object_id": note.object_id,
            },
        )


async def _order_of(session: Any, payload: dict[str, Any]) -> Order | None:
    object_id = str(payload.get("object_id", ""))
    pay = (
        await session.execute(select(Payment).where(Payment.external_id == object_id))
    ).scalar_one_or_none()
    if pay is None:
        ref = (
            await session.execute(select(Refund).where(Refund.external_id == object_id))
        ).scalar_one_or_none()
        if ref is None:
            return None
        order_id = ref.order_id
    else:
        order_id = pay.order_id
    found: Order | None = await session.get(Order, order_id)
    return found


def check_task(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Any, hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        account_id = int(payload["account_id"])
        object_id = str(payload["object_id"])
        async with factory() as session:
            try:
                account = await get_account(session, account_id, "yookassa")
            except NotFound as exc:
                raise ProviderRefusedError(exc.reason) from exc
            client = yookassa_client(account, settings)
        try:
            if str(payload.get("event", "")).startswith("refund."):
                refund = await client.get_refund(object_id)

                async def act_refund(session: Any, fx: Effects) -> None:
                    await apply_refund(session, fx, account_id, refund)

                await run_order_action(factory, bus, settings, act_refund, wake)
            else:
                payment = await client.get_payment(object_id)

                async def act_payment(session: Any, fx: Effects) -> None:
                    await apply_payment(session, fx, account_id, payment)

                await run_order_action(factory, bus, settings, act_payment, wake)
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise ProviderRefusedError(exc.reason) from exc

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        log.warning("payment notification %s not applied: %s", payload, reason)

        async def act(session: Any, fx: Effects) -> None:
            order = await _order_of(session, payload)
            if order is not None:
                await thread_event(
                    session,
                    fx,
                    order,
                    "payment_check_failed",
                    provider=payload.get("provider"),
                    provider_event=payload.get("event"),
                    provider_id=payload.get("object_id"),
                    reason=reason[:500],
                )

        await run_order_action(factory, bus, settings, act, wake)

    return Task(run=run, give_up=give_up)


class ProviderRefusedError(RuntimeError):
    """Permanent: the task ends at once (given up) with the provider's reason."""


register_task(CHECK, check_task)
