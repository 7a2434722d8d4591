"""Marketing consent as the customer card records it (table ``customer_consent``: customer_id, channel,
marketing, source, recorded_at; one row per customer and channel). Opt-in: no row, no marketing message.

This module only reads it in SQL (segments, broadcast planning) and writes the customer's own "stop".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, column, exists, table, true

consent_table = table(
    "customer_consent",
    column("customer_id"),
    column("channel", String),
    column("marketing", Boolean),
    column("source", String),
    column("recorded_at"),
)


def marketing_allowed(customer_id: Any, channel: Any | None) -> Any:
    """SQL: the customer agreed to marketing on ``channel`` (None: on any channel)."""
    query = exists().where(consent_table.c.customer_id == customer_id, consent_table.c.marketing == true())
    if channel is not None:
        query = query.where(consent_table.c.channel == channel)
    return query
