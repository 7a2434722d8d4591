"""Team work that runs beside the web app: round robin on new customer messages, waiting-customer alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from inbox.db import SessionFactory, transaction
from inbox.events import Event, EventBus, Listener
from inbox.team import publish
from inbox.team.assignment import auto_assign, wake
from inbox.team.notifications import notify_waiting
from inbox.team.settings import options

log = logging.getLogger(__name__)


def auto_assign_listener(factory: SessionFactory, bus: EventBus) -> Listener:
    """An EventBus listener for customer messages: a snoozed thread wakes up, and an unassigned thread goes
    to the next online manager (when round robin is on). Register it in every process that ingests."""

    async def on_event(event: Event) -> None:
        if event.type != "message.new" or event.data.get("direction") != "in" or event.thread_id is None:
            return
        async with transaction(factory) as session:
            out = await wake(session, event.thread_id)
            out.extend(await auto_assign(session, event.thread_id))
        await publish(bus, out)

    return on_event


async def waiting_alerts(
    factory: SessionFactory, bus: EventBus, stop: asyncio.Event, every: float = 60.0
) -> None:
    """Every minute: tell assignees about customers waiting longer than the team setting allows."""
    while not stop.is_set():
        try:
            async with transaction(factory) as session:
                minutes = (await options(session)).waiting_minutes
                out = await notify_waiting(session, minutes)
            await publish(bus, out)
        except Exception:
            log.exception("waiting-customer scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
