"""The marketing consent record: every decision is a new row (history kept); the newest row per channel is
the customer's state on that channel. Merge moves the rows (see :mod:`inbox.core.merge_policy`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core import kinds
from inbox.core.customers import live_customer
from inbox.i18n import _
from inbox.models import Customer, CustomerConsent, utcnow

SOURCES: tuple[str, ...] = ("manager", "api", "customer", "import", "bot", "widget")
MAX_SOURCE = 32


class ConsentError(ValueError):
    """Bad consent input (HTTP 400 / 422); ``reason`` is for the person who sent it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsentState:
    channel: str
    marketing: bool
    source: str
    recorded_at: datetime
    recorded_by: int | None


def channels() -> list[str]:
    return [str(k.kind) for k in kinds.all_kinds()]  # the registered kinds (the widget too)


def check_consent(channel: str, source: str) -> None:
    if channel not in channels():
        raise ConsentError(
            _("Unknown channel {channel}; one of: {known}.").format(
                channel=channel, known=", ".join(channels())
            )
        )
    if not source.strip() or len(source) > MAX_SOURCE:
        raise ConsentError(_("The consent source must be 1 to {n} characters.").format(n=MAX_SOURCE))


async def record_consent(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    marketing: bool,
    source: str,
    recorded_by: int | None = None,
    at: datetime | None = None,
) -> CustomerConsent:
    """Record a consent decision for the (live) customer on one channel; returns the new row."""
    check_consent(channel, source)
    if await session.get(Customer, customer_id) is None:
        raise LookupError(f"customer {customer_id} does not exist")
    customer = await live_customer(session, customer_id)
    row = CustomerConsent(
        customer_id=customer.id,
        channel=channel,
        marketing=bool(marketing),
        source=source.strip(),
        recorded_at=at or utcnow(),
        recorded_by=recorded_by,
    )
    session.add(row)
    await session.flush()
    return row


async def consent_history(session: AsyncSession, customer_id: int) -> list[CustomerConsent]:
    """Every record of the customer, newest first."""
    rows = await session.execute(
        select(CustomerConsent)
        .where(CustomerConsent.customer_id == customer_id)
        .order_by(CustomerConsent.recorded_at.desc(), CustomerConsent.id.desc())
    )
    return list(rows.scalars())


async def current_consent(session: AsyncSession, customer_id: int) -> dict[str, ConsentState]:
    """The state per channel: the newest record of each channel that has one."""
    state: dict[str, ConsentState] = {}
    for row in await consent_history(session, customer_id):
        if row.channel not in state:
            state[row.channel] = ConsentState(
                row.channel, row.marketing, row.source, row.recorded_at, row.recorded_by
            )
    return state


async def wants_marketing(session: AsyncSession, customer_id: int, channel: str) -> bool:
    """True only when the newest record on that channel says yes (no record: no consent)."""
    state = (await current_consent(session, customer_id)).get(channel)
    return bool(state and state.marketing)
