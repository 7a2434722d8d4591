"""Marketing consent as the customer card records it (:mod:`inbox.customer_card.consent`: a history per
customer and channel, the newest row is the state). Opt-in: no row, no marketing message. This module reads
that state in SQL, for segments and for planning a broadcast over many customers at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, not_, or_, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from inbox.models import CustomerConsent

consent_table = CustomerConsent.__table__


def marketing_allowed(customer_id: Any, channel: Any | None) -> Any:
    """SQL: the newest consent record of the customer on ``channel`` (None: on some channel) says yes."""
    row = aliased(CustomerConsent)
    newer = aliased(CustomerConsent)
    superseded = exists().where(
        newer.customer_id == row.customer_id,
        newer.channel == row.channel,
        or_(
            newer.recorded_at > row.recorded_at,
            and_(newer.recorded_at == row.recorded_at, newer.id > row.id),
        ),
    )
    query = exists().where(row.customer_id == customer_id, row.marketing == true(), not_(superseded))
    if channel is not None:
        query = query.where(row.channel == channel)
    return query


async def import_consent(
    session: AsyncSession, data: str, channel: str, marketing: bool, source: str = "import"
) -> tuple[int, int, int]:
    """Consent collected elsewhere (a shop's own sign-up list): a decision on ``channel`` for every customer
    a CSV names (the columns of a static segment's CSV: ``id``, ``phone`` or ``email``). A "yes" never
    overrides a "no" the customer gave us themselves (an unsubscribe, a bot answer). Returns (recorded,
    kept because the customer had said no, rows not matched)."""
    from inbox.customer_card.consent import check_consent, current_consent, record_consent
    from inbox.sales.segments import customers_from_csv

    check_consent(channel, source)
    ids, missing = await customers_from_csv(session, data)
    recorded = kept = 0
    for customer_id in ids:
        current = (await current_consent(session, customer_id)).get(channel)
        if current is not None and current.marketing == marketing:
            continue
        if marketing and current is not None and current.source in ("unsubscribe", "bot", "customer"):
            kept += 1
            continue
        await record_consent(session, customer_id, channel, marketing, source)
        recorded += 1
    return recorded, kept, missing
