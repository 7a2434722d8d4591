"""The customer as the API shows it (GET /customers/{id}, merge, split, consent…): identities, thread,
marketing consent per channel, lifetime value and order figures, card fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import identities_of
from inbox.customer_card.consent import current_consent
from inbox.customer_card.value import customer_value
from inbox.models import Customer, Thread
from inbox.sales.loyalty import standing


class IdentityOut(msgspec.Struct):
    id: int
    channel: str
    account_id: int
    external_id: str
    display: str
    verified: bool
    blocked: bool


class ConsentOut(msgspec.Struct):
    marketing: bool
    source: str
    recorded_at: datetime
    recorded_by: int | None  # manager id when a manager recorded it


class LoyaltyOut(msgspec.Struct):
    level: str | None  # the level's name (settings), none below the first threshold
    discount: int  # percent
    spent: int  # minor units (lifetime value)
    next_level: str | None
    left_to_next: int | None  # minor units


class CustomerOut(msgspec.Struct):
    id: int
    name: str
    phone: str | None
    phone_verified: bool
    email: str | None
    email_verified: bool
    locale: str | None
    preferred_channel: str | None
    merged_into_id: int | None
    identities: list[IdentityOut]
    thread_id: int | None
    consent: dict[str, ConsentOut] = {}  # channel kind -> the latest record on that channel
    lifetime_value: int = 0  # minor units: orders not cancelled or returned
    orders_count: int = 0
    average_check: int = 0
    last_order_at: datetime | None = None
    birthday: date | None = None
    addresses: list[str] = []
    fields: dict[str, Any] = {}
    loyalty: LoyaltyOut | None = None


async def customer_out(
    session: AsyncSession, customer: Customer, requested_id: int | None = None
) -> CustomerOut:
    """``customer`` is the live customer; ``requested_id`` the id asked for (a tombstone keeps its own id
    and says where it was merged)."""
    idents = await identities_of(session, customer.id)
    thread_id = (
        await session.execute(select(Thread.id).where(Thread.customer_id == customer.id))
    ).scalar_one_or_none()
    merged_into = customer.merged_into_id
    if requested_id is not None and requested_id != customer.id:
        tomb = await session.get(Customer, requested_id)
        merged_into = tomb.merged_into_id if tomb else None
    value = await customer_value(session, customer.id)
    consent = await current_consent(session, customer.id)
    level = await standing(session, customer.id)
    return CustomerOut(
        id=requested_id if requested_id is not None else customer.id,
        name=customer.name,
        phone=customer.phone,
        phone_verified=customer.phone_verified,
        email=customer.email,
        email_verified=customer.email_verified,
        locale=customer.locale,
        preferred_channel=customer.preferred_channel,
        merged_into_id=merged_into,
        identities=[
            IdentityOut(i.id, i.kind, i.account_id, i.external_id, i.display, i.verified, i.blocked)
            for i in idents
        ],
        thread_id=thread_id,
        consent={
            ch: ConsentOut(s.marketing, s.source, s.recorded_at, s.recorded_by) for ch, s in consent.items()
        },
        lifetime_value=value.lifetime_value,
        orders_count=value.orders_count,
        average_check=value.average_check,
        last_order_at=value.last_order_at,
        birthday=customer.birthday,
        addresses=[str(a) for a in customer.addresses or []],
        fields=dict(customer.fields or {}),
        loyalty=LoyaltyOut(
            level=level.level.name if level.level else None,
            discount=level.discount,
            spent=level.spent,
            next_level=level.next_level.name if level.next_level else None,
            left_to_next=level.left_to_next,
        ),
    )
