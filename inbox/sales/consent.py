"""Marketing consent as the customer card records it (:mod:`inbox.customer_card.consent`: a history per
customer and channel, the newest row is the state). Opt-in: no row, no marketing message. This module reads
that state in SQL, for segments and for planning a broadcast over many customers at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, not_, or_, true
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
