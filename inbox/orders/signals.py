"""Domain events raised by commerce services, collected on the session until the caller publishes them.

Services call ``emit(session, Event(...))``; after the transaction commits the caller does
``await bus.publish(*take_events(session))``. Events of a rolled-back transaction must be dropped with
``take_events`` too (they describe changes that never happened).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event

_KEY = "inbox.orders.events"


def emit(session: AsyncSession, event: Event) -> None:
    events: list[Event] = session.info.setdefault(_KEY, [])
    events.append(event)


def take_events(session: AsyncSession) -> list[Event]:
    """The events emitted on this session so far, merged by type where possible; clears the list."""
    events: list[Event] = session.info.pop(_KEY, [])
    merged: list[Event] = []
    stock_ids: list[int] = []
    for ev in events:
        if ev.type == "stock.changed":
            stock_ids.extend(int(i) for i in ev.data.get("product_ids", []))
        elif ev not in merged:
            merged.append(ev)
    if stock_ids:
        merged.append(Event(type="stock.changed", data={"product_ids": sorted(set(stock_ids))}))
    return merged


def stock_changed(session: AsyncSession, *product_ids: int) -> None:
    emit(session, Event(type="stock.changed", data={"product_ids": list(product_ids)}))
