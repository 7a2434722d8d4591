"""The background side of repeat sales in every worker process: due broadcasts are planned and sent in
batches, trigger rules are evaluated, a customer's "стоп" or unsubscribe button is honoured.

Several processes may run it: a broadcast is claimed for planning by a conditional UPDATE, recipients are
claimed with ``SKIP LOCKED`` on PostgreSQL, and every row that could double has a unique key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from inbox.core.events import Event, EventBus
from inbox.core.types import ChannelSource, InboundCallback
from inbox.db import SessionFactory, transaction
from inbox.models import Broadcast, utcnow
from inbox.sales import broadcasts, inbound, unsubscribe  # inbound: registers its hook and task
from inbox.sales.config import load as load_config
from inbox.settings import Settings

log = logging.getLogger(__name__)
TICK_SECONDS = 5.0


@dataclass
class SalesRunner:
    factory: SessionFactory
    bus: EventBus
    settings: Settings
    wake_dispatcher: Callable[[], None] | None = None
    hub: ChannelSource | None = None  # answers unsubscribe button presses when the bot (which does) is off
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self.wakeup.set()

    async def tick(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utcnow()
        planned = await self.plan_due(now)
        sent = await self.send_due(now)
        fired = await self.run_triggers(now)
        return {"planned": planned, "queued": sent, "fired": fired}

    async def plan_due(self, now: datetime) -> int:
        async with self.factory() as session:
            due = list(
                (
                    await session.execute(
                        select(Broadcast.id).where(Broadcast.status == "scheduled", Broadcast.send_at <= now)
                    )
                ).scalars()
            )
        planned = 0
        for broadcast_id in due:
            async with transaction(self.factory) as session:
                claimed = await session.execute(
                    update(Broadcast)
                    .where(Broadcast.id == broadcast_id, Broadcast.status == "scheduled")
                    .values(status="sending")
                )
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    continue
                broadcast = await broadcasts.get_broadcast(session, broadcast_id)
                planned += await broadcasts.plan(session, broadcast, await load_config(session), now)
        return planned

    async def send_due(self, now: datetime | None = None) -> int:
        """Queue the planned recipients of broadcasts being sent. Marketing waits out the shop's quiet
        hours (its time zone): nothing is queued then, the planned recipients go when they end."""
        from inbox.sales.triggers import in_quiet_hours

        async with self.factory() as session:
            sending = list(
                (await session.execute(select(Broadcast.id).where(Broadcast.status == "sending"))).scalars()
            )
            config = await load_config(session)
        if sending and in_quiet_hours(config, now or utcnow(), ZoneInfo(self.settings.timezone)):
            return 0
        queued = 0
        for broadcast_id in sending:
            while True:
                async with self.bus.transaction(self.factory) as session:
                    broadcast = await broadcasts.get_broadcast(session, broadcast_id)
                    if broadcast.status != "sending":
                        break
                    handled, sent = await broadcasts.send_batch(session, broadcast, self.settings)
                    if not handled:
                        broadcast.status = "done"
                        broadcast.finished_at = utcnow()
                queued += sent
                if self.wake_dispatcher is not None and sent:
                    self.wake_dispatcher()
                if not handled:
                    break
        return queued

    async def run_triggers(self, now: datetime) -> int:
        from inbox.sales.carts import sync_bot_carts
        from inbox.sales.triggers import run_rules

        async with transaction(self.factory) as session:
            await sync_bot_carts(session, now)

        fired, _ = await run_rules(self.factory, self.settings, now, self.bus)
        if fired and self.wake_dispatcher is not None:
            self.wake_dispatcher()
        return fired

    async def run(self, stop: asyncio.Event, interval: float = TICK_SECONDS) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("repeat sales worker failed; retrying")
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=interval)

    # ---- unsubscribing ------------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Nothing: a "стоп" is handled durably in the transaction that stores it (``inbox.sales.inbound``
        queues an outbox task there). Kept so that the bus subscription stays valid."""
        return None

    async def on_events(self, events: tuple[Event, ...]) -> None:
        """Nothing, like ``on_event``: a «стоп» in a processed batch was queued as a durable task in the
        batch's own transaction (``inbox.sales.inbound``), once per message."""
        return None

    async def on_callback(self, cb: InboundCallback) -> None:
        """An unsubscribe button press: the unsubscribe itself was queued with the raw event
        (``inbox.sales.inbound``); here only the press is answered when no bot (which does) runs."""
        if not cb.payload.startswith(unsubscribe.SALES_BUTTONS):
            return
        if self.hub is not None and not self.settings.bots_enabled:
            with contextlib.suppress(Exception):  # an unanswered press only leaves a spinner
                channel = await self.hub.get(cb.account_id)
                if channel is not None:
                    await channel.answer_callback(cb.callback_id)

    async def opt_out(self, customer_id: int, channel: str | None, ref: str = "") -> None:
        """Unsubscribe now (a manager or a test): marketing off, confirmed once per ``ref``."""
        await inbound.opt_out(
            self.bus, self.factory, self.settings, customer_id, channel, ref or f"now:{utcnow().isoformat()}"
        )
        if self.wake_dispatcher is not None:
            self.wake_dispatcher()
