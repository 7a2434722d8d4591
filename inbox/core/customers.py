"""Customers and their identities: resolution of an inbound sender, threads, preferred channel.

Resolution (DESIGN §5): exact identity -> a contact point the provider vouches for (Telegram shared contact,
SMS sender, email From) matching a customer's verified phone/email -> a new customer. Unverified matches are
never merged automatically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.types import ContactHints
from inbox.db import insert_for, is_postgres
from inbox.models import ChannelAccount, Customer, Identity, Thread, utcnow

# When a customer has no explicit choice and the last inbound channel cannot be used (the website widget
# last: it reaches a visitor only while they are on the site).
DEFAULT_FALLBACK_ORDER = ("telegram", "vk", "sms", "email", "widget")


@dataclass(frozen=True, slots=True)
class Resolved:
    identity: Identity
    customer: Customer
    thread: Thread
    created: bool


async def live_customer(session: AsyncSession, customer_id: int) -> Customer:
    """Follow merge tombstones to the surviving customer."""
    seen: set[int] = set()
    while True:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"customer {customer_id} does not exist")
        if customer.merged_into_id is None or customer.id in seen:
            return customer
        seen.add(customer.id)
        customer_id = customer.merged_into_id


async def thread_for(session: AsyncSession, customer_id: int, at: datetime | None = None) -> Thread:
    thread = (
        await session.execute(select(Thread).where(Thread.customer_id == customer_id))
    ).scalar_one_or_none()
    if thread is not None:
        return thread
    await session.execute(
        insert_for(session, Thread)
        .values(
            customer_id=customer_id,
            last_message_at=at or utcnow(),
            status="open",
            unread_count=0,
            last_preview="",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return (await session.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()


async def _lock_contact_points(session: AsyncSession, hints: ContactHints) -> None:
    """PostgreSQL: serialise resolutions that carry the same vouched phone/email (transaction-scoped advisory
    locks, taken in a fixed order), so that a Telegram contact share and an SMS from that phone arriving at
    once on two workers see each other's customer. SQLite transactions are serial already (BEGIN IMMEDIATE).
    """
    if not is_postgres(session):
        return
    points = {f"phone:{hints.phone}" if hints.phone else ""}
    points.add(f"email:{hints.email.lower()}" if hints.email else "")
    for point in sorted(p for p in points if p):
        key = int.from_bytes(hashlib.sha256(point.encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def _locked_live(session: AsyncSession, customer: Customer | None) -> Customer | None:
    """Lock a found customer row (a concurrent merge/split waits, or we wait for it) and follow tombstones."""
    if customer is None:
        return None
    await session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    await session.refresh(customer)
    return await live_customer(session, customer.id)


async def _by_vouched_contact(session: AsyncSession, hints: ContactHints) -> Customer | None:
    if hints.phone:
        found = (
            await session.execute(
                select(Customer)
                .where(Customer.phone == hints.phone, Customer.phone_verified.is_(True))
                .where(Customer.merged_into_id.is_(None))
                .order_by(Customer.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if found is not None:
            return await _locked_live(session, found)
    if hints.email:
        found = (
            await session.execute(
                select(Customer)
                .where(Customer.email == hints.email.lower(), Customer.email_verified.is_(True))
                .where(Customer.merged_into_id.is_(None))
                .order_by(Customer.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        return await _locked_live(session, found)
    return None


def apply_vouched(customer: Customer, hints: ContactHints) -> None:
    """Record contact points the provider vouches for, without overwriting a different verified value."""
    if hints.phone and (not customer.phone_verified or customer.phone == hints.phone):
        customer.phone = hints.phone
        customer.phone_verified = True
    elif hints.phone_unverified and not customer.phone:
        customer.phone = hints.phone_unverified
    if hints.email and (not customer.email_verified or customer.email == hints.email.lower()):
        customer.email = hints.email.lower()
        customer.email_verified = True
    if hints.display_name and not customer.name:
        customer.name = hints.display_name[:200]
    if hints.locale and not customer.locale:
        customer.locale = "ru" if hints.locale.lower().startswith("ru") else "en"


async def resolve(
    session: AsyncSession, *, kind: str, account_id: int, external_id: str, hints: ContactHints, at: datetime
) -> Resolved:
    """Find or create the identity, customer and thread of an inbound sender. Safe under concurrency: two
    workers resolving the same new sender end with one identity (unique key) and one customer."""
    key = (Identity.kind == kind, Identity.account_id == account_id, Identity.external_id == external_id)
    await _lock_contact_points(session, hints)
    # FOR UPDATE: a concurrent merge/split that moves this identity waits for us, or we see its result.
    identity = (
        await session.execute(
            select(Identity).where(*key).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    created = False
    if identity is None:
        customer = await _by_vouched_contact(session, hints)
        if customer is None:
            customer = Customer(name=(hints.display_name or "")[:200])
            session.add(customer)
            await session.flush()
            created = True
        result = await session.execute(
            insert_for(session, Identity)
            .values(
                kind=kind,
                account_id=account_id,
                external_id=external_id,
                customer_id=customer.id,
                display=(hints.display_name or "")[:200],
                username=hints.username,
                locale=hints.locale,
                verified=True,
                blocked=False,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["kind", "account_id", "external_id"])
        )
        identity = (await session.execute(select(Identity).where(*key).with_for_update())).scalar_one()
        if (
            getattr(result, "rowcount", 1) == 0 and created
        ):  # lost the race: drop our fresh customer, use the winner's
            await session.delete(customer)
            await session.flush()
            created = False
    customer = await live_customer(session, identity.customer_id)
    if identity.customer_id != customer.id:
        identity.customer_id = customer.id
    apply_vouched(customer, hints)
    if hints.display_name:
        identity.display = hints.display_name[:200]
    if hints.username:
        identity.username = hints.username
    identity.last_seen_at = at
    identity.blocked = False
    thread = await thread_for(session, customer.id, at)
    return Resolved(identity=identity, customer=customer, thread=thread, created=created)


async def identities_of(session: AsyncSession, customer_id: int) -> list[Identity]:
    rows = await session.execute(
        select(Identity)
        .join(ChannelAccount, ChannelAccount.id == Identity.account_id)
        .where(Identity.customer_id == customer_id, ChannelAccount.enabled.is_(True))
        .order_by(Identity.last_seen_at.desc().nulls_last(), Identity.id.desc())
    )
    return list(rows.scalars())


def preferred_kind(customer: Customer, thread: Thread) -> str | None:
    return customer.preferred_channel or thread.last_inbound_channel


async def pick_identity(
    session: AsyncSession,
    customer: Customer,
    thread: Thread,
    channel: str | None = None,
    exclude: set[int] | None = None,
    fallback_order: tuple[str, ...] = DEFAULT_FALLBACK_ORDER,
) -> Identity | None:
    """The identity to answer on: the requested channel, else the preferred one (explicit choice, else last
    inbound), else the shop's fallback order. Blocked identities and ``exclude`` are skipped."""
    exclude = exclude or set()
    candidates = [
        i for i in await identities_of(session, customer.id) if i.id not in exclude and not i.blocked
    ]
    if not candidates:
        return None
    if channel:
        for ident in candidates:
            if ident.kind == channel:
                return ident
        return None
    order = [k for k in (preferred_kind(customer, thread), *fallback_order) if k]
    for kind in order:
        for ident in candidates:
            if ident.kind == kind:
                return ident
    return candidates[0]


async def set_preferred_channel(session: AsyncSession, customer_id: int, channel: str | None) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(preferred_channel=channel, updated_at=utcnow())
    )
