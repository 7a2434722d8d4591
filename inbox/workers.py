"""Background work of a process: inbound processor, outbox dispatcher, shop webhook sender and one poller
per channel account.

Pollers are cluster-wide singletons: on PostgreSQL each holds an advisory lock for its account, so several
processes can run `inbox serve` / `inbox worker` and only one polls a given bot or mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox import health, metrics
from inbox.bots import BotEngine
from inbox.channels.hub import ChannelHub
from inbox.core import confirm as _confirm_tasks  # noqa: F401 - registers the confirmation-code task
from inbox.core.events import Event, EventBus
from inbox.core.ingest import InboundProcessor, RawEventWriter, store_raw
from inbox.core.kvstore import KeyValueStore
from inbox.core.outbox import Dispatcher
from inbox.core.types import AccountConfig, RawEvent
from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.db_gate import HIGH
from inbox.models import ChannelAccount
from inbox.orders.carriers import service as _carrier_tasks  # noqa: F401 - registers outbox tasks
from inbox.orders.carriers.polling import CarrierPollers
from inbox.orders.payments import notifications as _payment_tasks  # noqa: F401 - registers outbox tasks
from inbox.orders.payments import telegram as telegram_payments
from inbox.orders.timers import OrderTimers
from inbox.orders.webhook_sender import WebhookSender
from inbox.privacy import apply_retention
from inbox.sales.runner import SalesRunner
from inbox.settings import Settings
from inbox.team.background import auto_assign_listener, waiting_alerts

log = logging.getLogger(__name__)
SESSION_SWEEP_SECONDS = 3600.0
LOCK_NAMESPACE = 0x1B0C  # advisory lock keys: (namespace, account id)
POLLER_RETRY_SECONDS = 2.0
RETENTION_EVERY = 3600.0  # how soon another process takes over a poller whose holder died


class DbPollState:
    """A poller's position in ``channel_account.state``."""

    def __init__(self, factory: SessionFactory, account_id: int) -> None:
        self.factory = factory
        self.account_id = account_id

    async def load(self) -> dict[str, Any]:
        async with self.factory() as session:
            row = await session.get(ChannelAccount, self.account_id)
            return dict(row.state) if row is not None else {}

    async def save(self, state: dict[str, Any]) -> None:
        async with transaction(self.factory) as session:
            await session.execute(
                update(ChannelAccount).where(ChannelAccount.id == self.account_id).values(state=state)
            )


class InboundAnnouncer(Protocol):
    """Tells the other processes of a cluster that raw events were committed (``inbox.web.live.ClusterWake``
    over Redis), so that their inbound processors claim at once instead of at their next poll."""

    def announce(self) -> None: ...

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None: ...


@dataclass
class Workers:
    engine: AsyncEngine
    factory: SessionFactory
    settings: Settings
    bus: EventBus
    # dispatch: outbox dispatcher; pollers: channel pollers + inbound processor; scheduler: order timers,
    # waiting alerts, session sweep (``inbox worker --only ROLE``).
    roles: frozenset[str] = frozenset(health.ROLES)
    cluster: InboundAnnouncer | None = None  # with Redis: wake the other processes' inbound processors
    hub: ChannelHub = field(init=False)
    processor: InboundProcessor = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    webhooks: WebhookSender = field(init=False)
    order_timers: OrderTimers = field(init=False)
    raw_writer: RawEventWriter = field(init=False)
    raw_engine: AsyncEngine | None = field(init=False, default=None)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _pollers: dict[int, tuple[str, asyncio.Task[None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hub = ChannelHub(self.factory, self.settings, self.bus)
        self.dispatcher = Dispatcher(self.factory, self.hub, self.bus, self.settings)
        self.webhooks = WebhookSender(self.factory, self.settings)  # shop webhooks, same durable queue
        # Webhooks never wait behind processing: on SQLite the raw-event writer has its own connection (WAL
        # lets it commit while the processor reads; writes still take turns, each one short), where the main
        # connection serves the processor, the dispatcher and the web pages. PostgreSQL's pool already gives
        # every writer its own connection.
        raw_factory = self.factory
        if self.engine.dialect.name == "sqlite":
            self.raw_engine = make_engine(self.settings.database_url, write_priority=HIGH)
            raw_factory = make_session_factory(self.raw_engine)
        self.raw_writer = RawEventWriter(raw_factory)
        self.processor = InboundProcessor(self.factory, self.hub, self.bus, self.settings)
        if self.raw_engine is not None:  # SQLite: processing lets waiting webhooks commit between its parts
            writer = self.raw_writer
            self.processor.writers_waiting = lambda: writer.busy
        # The bot answers routine questions in every channel (inbox/bots), reacting to committed events.
        self.bots = BotEngine(self.factory, self.settings, bus=self.bus, hub=self.hub, wake=self.wake_outbox)
        # Team work on new customer messages: a snoozed thread wakes up, round robin assigns (when on).
        self.bus.subscribe(auto_assign_listener(self.factory, self.bus))
        if self.settings.bots_enabled:
            self.bus.subscribe_batch(self.bots.on_events)  # a batch of turns per transaction
            self.processor.callback_handlers.append(self.bots.on_callback)
        # Carriers without webhooks (Почта России, Boxberry): one poller per account in the cluster.
        self.carrier_pollers = CarrierPollers(self.engine, self.factory, self.wake_outbox)
        self.order_timers = OrderTimers(self.factory, self.bus, self.settings, self.wake_outbox)
        # Repeat sales: broadcasts, trigger rules, and a customer's "стоп" / unsubscribe button.
        self.sales = SalesRunner(self.factory, self.bus, self.settings, self.wake_outbox, self.hub)
        self.bus.subscribe_batch(self.sales.on_events)  # one read per processed batch
        self.processor.callback_handlers.insert(0, self.sales.on_callback)
        self.bus.subscribe(_count_inbound)

    async def before_store(self, account_id: int, events: list[RawEvent]) -> None:
        """Payment updates (Telegram pre-checkout, successful payment) skip the conversation queue."""
        if telegram_payments.has_payment_update(events):
            await telegram_payments.on_updates(
                self.factory, self.bus, self.settings, self.hub.get, account_id, events, self.wake_outbox
            )

    def wake_outbox(self) -> None:
        """Something was queued: channel messages and shop webhooks go out without waiting for a poll."""
        self.dispatcher.wake()
        self.webhooks.wake()

    def inbound_committed(self) -> None:
        """Raw events were committed here: this process's processor claims now, and (with Redis) so do the
        other processes' (per-chat claims let them share one account's chats)."""
        self.processor.wake()
        if self.cluster is not None:
            self.cluster.announce()

    async def sink_for(self, account_id: int, events: list[RawEvent]) -> None:
        await self.before_store(account_id, events)
        await store_raw(self.raw_writer.factory, account_id, events)
        self.inbound_committed()

    def start(self) -> None:
        unknown = self.roles - set(health.ROLES)
        if unknown:
            raise ValueError(f"unknown worker roles: {', '.join(sorted(unknown))}")
        tasks = [asyncio.create_task(self._heartbeat(), name="heartbeat")]
        if "pollers" in self.roles:
            tasks.append(asyncio.create_task(self.processor.run(self.stop), name="inbound-processor"))
            if self.cluster is not None:
                tasks.append(
                    asyncio.create_task(
                        self.cluster.listen(self.processor.wake, self.stop), name="inbound-wake-ups"
                    )
                )
            tasks.append(asyncio.create_task(self._supervise(), name="poller-supervisor"))
            tasks.append(asyncio.create_task(self.carrier_pollers.run(self.stop), name="carrier-pollers"))
        if "dispatch" in self.roles:
            tasks.append(asyncio.create_task(self.dispatcher.run(self.stop), name="outbox-dispatcher"))
            tasks.append(asyncio.create_task(self.webhooks.run(self.stop), name="shop-webhooks"))
        if "scheduler" in self.roles:
            tasks.append(asyncio.create_task(self.order_timers.run(self.stop), name="order-timers"))
            tasks.append(asyncio.create_task(self.sales.run(self.stop), name="repeat-sales"))
            tasks.append(
                asyncio.create_task(waiting_alerts(self.factory, self.bus, self.stop), name="waiting-alerts")
            )
            tasks.append(asyncio.create_task(self._sweep(), name="session-sweep"))
            tasks.append(asyncio.create_task(self._retention(), name="retention"))
        self._tasks = tasks

    async def close(self) -> None:
        self.stop.set()
        tasks = self._tasks + [t for _, t in self._pollers.values()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._pollers.clear()
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(health.forget(self.factory), 2)
        await self.hub.close()
        await self.dispatcher.limiter.close()
        if self.raw_engine is not None:
            await self.raw_engine.dispose()

    async def _heartbeat(self) -> None:
        """Tell /readyz (in any process) that this process runs its roles."""
        while not self.stop.is_set():
            try:
                await health.beat(self.factory, self.roles)
            except Exception:
                log.warning("heartbeat write failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=health.HEARTBEAT_EVERY)

    async def _sweep(self) -> None:
        """Now and then drop expired web sessions and heartbeats (the store keeps them in the database)."""
        while not self.stop.is_set():
            try:
                await KeyValueStore(self.factory, "sessions").delete_expired()
                await KeyValueStore(self.factory, "login-throttle").delete_expired()
                await KeyValueStore(self.factory, health.HEARTBEAT_NAMESPACE).delete_expired()
            except Exception:
                log.exception("sweeping expired keys failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=SESSION_SWEEP_SECONDS)

    async def _retention(self) -> None:
        """Old attachment files and raw inbound payloads go after the configured number of days."""
        days_files, days_raw = self.settings.retention_attachments_days, self.settings.retention_raw_days
        while not self.stop.is_set() and (days_files > 0 or days_raw > 0):
            try:
                async with transaction(self.factory) as session:
                    files, payloads = await apply_retention(
                        session, self.settings.data_dir, attachments_days=days_files, raw_days=days_raw
                    )
                if files or payloads:
                    log.info(
                        "retention: %s attachment files removed, %s raw payloads blanked", files, payloads
                    )
            except Exception:
                log.exception("retention failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=RETENTION_EVERY)

    async def _supervise(self) -> None:
        """Start, restart and stop pollers as accounts are added, changed or disabled."""
        while not self.stop.is_set():
            try:
                await self.reconcile()
            except Exception:
                log.exception("poller supervisor failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=5.0)

    async def reconcile(self) -> None:
        accounts = {a.id: a for a in await self.hub.enabled_accounts()}
        for account_id, (fp, task) in list(self._pollers.items()):
            cfg = accounts.get(account_id)
            if cfg is None or _fp(cfg) != fp or task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                del self._pollers[account_id]
        for account_id, cfg in accounts.items():
            if account_id not in self._pollers:
                task = asyncio.create_task(self._poll(cfg), name=f"poller-{account_id}")
                self._pollers[account_id] = (_fp(cfg), task)

    async def _poll(self, cfg: AccountConfig) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                async with self._singleton(cfg.id) as mine:
                    if not mine:
                        await asyncio.sleep(POLLER_RETRY_SECONDS)
                        continue
                    channel = await self.hub.for_config(cfg)
                    await channel.start()
                    state = DbPollState(self.factory, cfg.id)

                    async def sink(events: list[RawEvent]) -> None:
                        await self.sink_for(cfg.id, events)

                    await channel.run(sink, state)
                    delay = 1.0
                    # A webhook-mode adapter returns at once; keep holding the lock so that one process
                    # owns the account until it changes (the supervisor then cancels this task).
                    await self.stop.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "poller for account %s (%s) failed; restarting in %.0fs", cfg.id, cfg.name, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)

    @contextlib.asynccontextmanager
    async def _singleton(self, account_id: int) -> Any:
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        async with self.engine.connect() as conn:
            got = (
                await conn.execute(
                    text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": LOCK_NAMESPACE, "id": account_id}
                )
            ).scalar()
            await conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    with contextlib.suppress(Exception):
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(:ns, :id)"),
                            {"ns": LOCK_NAMESPACE, "id": account_id},
                        )
                        await conn.commit()


async def _count_inbound(event: Event) -> None:
    if event.type == "message.new" and event.data.get("direction") == "in":
        metrics.count_inbound(str(event.data.get("channel") or "unknown"))


def _fp(cfg: AccountConfig) -> str:
    return json.dumps([cfg.settings, cfg.secrets, cfg.name], sort_keys=True, default=str)
