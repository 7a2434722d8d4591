"""Everything the 360° customer card shows, read in one place: orders with status and total, lifetime
value and order figures, the newest messages per channel, notes, labels, consent, custom fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.customer_card.consent import ConsentState, current_consent
from inbox.customer_card.fields import all_fields
from inbox.customer_card.value import CustomerValue, customer_value
from inbox.models import Customer, CustomField, Direction, Label, Message, Thread
from inbox.orders.stats import OrderSummary, customer_order_stats
from inbox.orders.statuses import load_statuses, status_name
from inbox.team.labels import customer_labels

PER_CHANNEL = 3
NOTES = 5
SCAN = 300  # newest messages looked at for the per-channel view


@dataclass(frozen=True, slots=True)
class OrderRow:
    summary: OrderSummary
    status_label: str


@dataclass(frozen=True, slots=True)
class Conversation:
    channel: str
    messages: list[Message]  # newest first
    last_at: datetime


@dataclass(slots=True)
class CardData:
    customer: Customer
    thread_id: int | None
    value: CustomerValue
    orders: list[OrderRow]
    conversations: list[Conversation]
    notes: list[Message]
    labels: list[Label]
    consent: dict[str, ConsentState]
    fields: list[CustomField] = field(default_factory=list)


async def conversations(
    session: AsyncSession, thread_id: int, per_channel: int = PER_CHANNEL
) -> list[Conversation]:
    rows = await session.execute(
        select(Message)
        .where(Message.thread_id == thread_id, Message.direction.in_([Direction.IN, Direction.OUT]))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(SCAN)
    )
    by_channel: dict[str, list[Message]] = {}
    for message in rows.scalars():
        bucket = by_channel.setdefault(message.channel or "", [])
        if len(bucket) < per_channel:
            bucket.append(message)
    return sorted(
        (Conversation(ch, msgs, msgs[0].created_at) for ch, msgs in by_channel.items() if ch),
        key=lambda c: c.last_at,
        reverse=True,
    )


async def card_data(session: AsyncSession, customer: Customer) -> CardData:
    thread_id = (
        await session.execute(select(Thread.id).where(Thread.customer_id == customer.id))
    ).scalar_one_or_none()
    statuses = await load_statuses(session)
    locale = i18n.current()
    stats = await customer_order_stats(session, customer.id)
    orders = [
        OrderRow(
            o,
            status_name(statuses[o.status], locale)
            if o.status in statuses
            else (i18n._("Draft") if o.group == "draft" else o.status),
        )
        for o in stats.orders
    ]
    notes: list[Message] = []
    convs: list[Conversation] = []
    if thread_id is not None:
        convs = await conversations(session, thread_id)
        notes = list(
            (
                await session.execute(
                    select(Message)
                    .where(Message.thread_id == thread_id, Message.direction == Direction.NOTE)
                    .order_by(Message.created_at.desc(), Message.id.desc())
                    .limit(NOTES)
                )
            ).scalars()
        )
    return CardData(
        customer=customer,
        thread_id=thread_id,
        value=await customer_value(session, customer.id),
        orders=orders,
        conversations=convs,
        notes=notes,
        labels=await customer_labels(session, customer.id),
        consent=await current_consent(session, customer.id),
        fields=await all_fields(session),
    )
