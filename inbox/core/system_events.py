"""The one builder of system-event lines in a thread ("Olga assigned Ivan", "order #12 shipped", "the bot
handed over", "merged", "sent by SMS instead"): direction ``event``, never sent, ``meta["kind"]`` says
which. Everything that writes one goes through :func:`system_event` (or :func:`add_system_event`, which
also queues the ``message.new`` event for after the commit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event, emit
from inbox.models import Author, Delivery, Direction, Message, utcnow


def system_event(
    *,
    thread_id: int,
    customer_id: int,
    kind: str,
    text: str,
    meta: dict[str, Any] | None = None,
    actor_id: int | None = None,
    order_id: int | None = None,
    at: datetime | None = None,
) -> Message:
    """A system-event message (not added to the session). ``actor_id``: the manager who caused it."""
    return Message(
        thread_id=thread_id,
        customer_id=customer_id,
        direction=Direction.EVENT,
        author=Author.MANAGER if actor_id else Author.SYSTEM,
        manager_id=actor_id,
        text=text,
        meta={"kind": kind, **(meta or {})},
        delivery=Delivery.NONE,
        order_id=order_id,
        revisions=[],
        created_at=at or utcnow(),
    )


async def add_system_event(session: AsyncSession, **kwargs: Any) -> Message:
    """:func:`system_event`, added and flushed, with its ``message.new`` queued for after the commit."""
    message = system_event(**kwargs)
    session.add(message)
    await session.flush()
    new = Event(
        "message.new", thread_id=message.thread_id, message_id=message.id, customer_id=message.customer_id
    )
    emit(session, new)
    return message
