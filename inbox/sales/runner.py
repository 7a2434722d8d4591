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

from sqlalchemy import select, update

from inbox.core.events import Event, EventBus
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.types import ChannelSource, InboundCallback
from inbox.db import SessionFactory, transaction
from inbox.i18n import _, use_locale
from inbox.models import Author, Broadcast, Customer, Identity, Message, Thread, utcnow
from inbox.sales import broadcasts, unsubscribe
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
        sent = await self.send_due()
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

    async def send_due(self) -> int:
        async with self.factory() as session:
            sending = list(
                (await session.execute(select(Broadcast.id).where(Broadcast.status == "sending"))).scalars()
            )
        queued = 0
        for broadcast_id in sending:
            while True:
                async with transaction(self.factory) as session:
                    broadcast = await broadcasts.get_broadcast(session, broadcast_id)
                    if broadcast.status != "sending":
                        break
                    handled, events = await broadcasts.send_batch(session, broadcast, self.settings)
                    if not handled:
                        broadcast.status = "done"
                        broadcast.finished_at = utcnow()
                queued += len([e for e in events if e.type == "message.new"])
                await self.bus.publish(*events)
                if self.wake_dispatcher is not None and events:
                    self.wake_dispatcher()
                if not handled:
                    break
        return queued

    async def run_triggers(self, now: datetime) -> int:
        from inbox.sales.carts import sync_bot_carts
        from inbox.sales.triggers import run_rules

        async with transaction(self.factory) as session:
            await sync_bot_carts(session, now)

        fired, events = await run_rules(self.factory, self.settings, now)
        await self.bus.publish(*events)
        if events and self.wake_dispatcher is not None:
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
        """A customer's "стоп" (or "stop", "отписаться") switches marketing off and is confirmed."""
        if event.type != "message.new" or event.data.get("direction") != "in" or event.message_id is None:
            return
        async with self.factory() as session:
            message = await session.get(Message, event.message_id)
            if message is None or message.author != Author.CUSTOMER or not unsubscribe.is_stop(message.text):
                return
        await self.opt_out(message.customer_id, message.channel)

    async def on_events(self, events: tuple[Event, ...]) -> None:
        """``on_event`` for every event of a publish (``bus.subscribe_batch``): the inbound messages of a
        processed batch are read in one query, not in a transaction each."""
        ids = [
            e.message_id
            for e in events
            if e.type == "message.new" and e.data.get("direction") == "in" and e.message_id is not None
        ]
        if not ids:
            return
        async with self.factory() as session:
            rows = (
                await session.execute(
                    select(Message.customer_id, Message.channel, Message.text)
                    .where(Message.id.in_(ids), Message.author == Author.CUSTOMER)
                    .order_by(Message.id)
                )
            ).all()
        for customer_id, channel, text in rows:
            if unsubscribe.is_stop(text):
                await self.opt_out(customer_id, channel)

    async def on_callback(self, cb: InboundCallback) -> None:
        if not cb.payload.startswith(unsubscribe.BUTTON_PREFIX):
            return
        try:
            customer_id, _channel = unsubscribe.read_token(
                self.settings.secret_key, cb.payload[len(unsubscribe.BUTTON_PREFIX) :]
            )
        except unsubscribe.BadToken:
            log.warning("unsubscribe button with a bad token: %r", cb.payload[:80])
            return
        async with self.factory() as session:
            owner = (
                await session.execute(
                    select(Identity.customer_id).where(
                        Identity.kind == cb.kind,
                        Identity.account_id == cb.account_id,
                        Identity.external_id == cb.external_user_id,
                    )
                )
            ).scalar()
        if owner is not None:
            await self.opt_out(customer_id, cb.kind)
        if self.hub is not None and not self.settings.bots_enabled:
            with contextlib.suppress(Exception):  # an unanswered press only leaves a spinner
                channel = await self.hub.get(cb.account_id)
                if channel is not None:
                    await channel.answer_callback(cb.callback_id)

    async def opt_out(self, customer_id: int, channel: str | None) -> None:
        events: list[Event] = []
        async with transaction(self.factory) as session:
            await unsubscribe.opt_out(session, customer_id)
            customer = await session.get(Customer, customer_id)
            thread = (
                await session.execute(select(Thread).where(Thread.customer_id == customer_id))
            ).scalar_one_or_none()
            if customer is not None and thread is not None:
                with use_locale(customer.locale or self.settings.default_locale):
                    text = _("You are unsubscribed from our newsletters. Orders and answers keep coming.")
                with contextlib.suppress(NoChannel):
                    _msg, events = await enqueue(
                        session, thread, Draft(text=text, author=Author.SYSTEM, channel=channel)
                    )
            events.append(
                Event("customer.updated", customer_id=customer_id, data={"consent": "unsubscribed"})
            )
        await self.bus.publish(*events)
        if self.wake_dispatcher is not None:
            self.wake_dispatcher()
