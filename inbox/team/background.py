"""Team work that runs beside the web app: round robin on new customer messages, waiting-customer alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from inbox.core.events import Event, EventBus, Listener
from inbox.db import SessionFactory
from inbox.team.assignment import auto_assign
from inbox.team.notifications import notify_waiting
from inbox.team.settings import ROUND_ROBIN, get_value, options

log = logging.getLogger(__name__)
ROUND_ROBIN_RECHECK = 3.0  # seconds


def auto_assign_listener(factory: SessionFactory, bus: EventBus) -> Listener:
    """An EventBus listener for customer messages: a snoozed thread wakes up, and an unassigned thread goes
    to the next online manager (when round robin is on). Register it in every process that ingests."""

    checked = [0.0, False]  # when the round-robin switch was last read, and its value

    async def on_event(event: Event) -> None:
        if event.type != "message.new" or event.data.get("direction") != "in" or event.thread_id is None:
            return
        # Ingest itself wakes snoozed threads; here only round robin is left, and it is usually off: read
        # the switch at most every few seconds instead of opening a write transaction per message.
        now = time.monotonic()
        if now - checked[0] > ROUND_ROBIN_RECHECK:
            async with factory() as session:
                checked[1] = bool((await get_value(session, ROUND_ROBIN)).get("enabled"))
            checked[0] = now
        if not checked[1]:
            return
        async with bus.transaction(factory) as session:
            await auto_assign(session, event.thread_id)

    return on_event


async def waiting_alerts(
    factory: SessionFactory, bus: EventBus, stop: asyncio.Event, every: float = 60.0
) -> None:
    """Every minute: tell assignees about customers waiting longer than the team setting allows."""
    while not stop.is_set():
        try:
            async with bus.transaction(factory) as session:
                minutes = (await options(session)).waiting_minutes
                await notify_waiting(session, minutes)
        except Exception:
            log.exception("waiting-customer scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
