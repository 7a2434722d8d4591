"""Polling carriers without webhooks (Почта России, Boxberry): one poller per carrier account in the cluster.

On PostgreSQL each account's poller holds an advisory lock (its own namespace), so however many processes run
workers, one of them polls a given account; on SQLite there is one process. A poller does no provider call
itself: every poll interval it queues a ``parcel.check`` outbox task for each of the account's active
shipments that is due and has no check pending. The dispatcher runs the check (retried with backoff while the
carrier is down or answers garbage; the thread shows it when the outbox gives up), so a carrier never blocks
the inbox and no event is lost: the next check reads the parcel's whole history again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.core.outbox import queue_task
from inbox.db import SessionFactory, transaction
from inbox.models import CarrierAccount, Outbox, Shipment, utcnow
from inbox.orders.carriers.service import CHECK, POLLED, check_key, poll_interval

log = logging.getLogger(__name__)
LOCK_NAMESPACE = 0x1B0D  # advisory lock keys: (namespace, carrier account id)
SUPERVISE_SECONDS = 5.0
BATCH = 200


@contextlib.asynccontextmanager
async def singleton(engine: AsyncEngine, account_id: int) -> AsyncIterator[bool]:
    """True while this process holds the account's poller lock (always, on SQLite)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn:
        args = {"ns": LOCK_NAMESPACE, "id": account_id}
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"), args)).scalar())
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(Exception):
                    await conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), args)
                    await conn.commit()


async def poll_once(factory: SessionFactory, account_id: int) -> tuple[int, float]:
    """Queue checks for the account's due shipments; (how many were queued, the account's poll interval)."""
    async with transaction(factory) as session:
        account = await session.get(CarrierAccount, account_id)
        if account is None or not account.enabled or account.kind not in POLLED:
            return 0, SUPERVISE_SECONDS
        interval = poll_interval(account)
        now = utcnow()
        due = list(
            (
                await session.execute(
                    select(Shipment)
                    .where(
                        Shipment.account_id == account_id,
                        Shipment.active.is_(True),
                        or_(Shipment.next_poll_at.is_(None), Shipment.next_poll_at <= now),
                    )
                    .order_by(Shipment.next_poll_at, Shipment.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        if not due:
            return 0, interval
        chats = {f"task:{CHECK}:{check_key(account_id, s.track)}"[:254]: s for s in due}
        pending = set(
            (
                await session.execute(
                    select(Outbox.chat_id).where(Outbox.chat_id.in_(list(chats)), Outbox.done_at.is_(None))
                )
            ).scalars()
        )
        queued = 0
        for chat, shipment in chats.items():
            shipment.next_poll_at = now + timedelta(seconds=interval)
            if chat in pending:
                continue  # the last check is still being retried: one at a time
            queue_task(
                session,
                CHECK,
                check_key(account_id, shipment.track),
                {"account_id": account_id, "number": shipment.track},
            )
            queued += 1
        return queued, interval


class CarrierPollers:
    """Starts and stops one poller per enabled account of a polled carrier."""

    def __init__(self, engine: AsyncEngine, factory: SessionFactory, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.factory = factory
        self.wake = wake
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.reconcile(stop)
                except Exception:
                    log.exception("carrier poller supervisor failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=SUPERVISE_SECONDS)
        finally:
            for task in self._tasks.values():
                task.cancel()
            for task in self._tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._tasks.clear()

    async def reconcile(self, stop: asyncio.Event) -> None:
        async with self.factory() as session:
            wanted = set(
                (
                    await session.execute(
                        select(CarrierAccount.id).where(
                            CarrierAccount.enabled.is_(True), CarrierAccount.kind.in_(POLLED)
                        )
                    )
                ).scalars()
            )
        for account_id, task in list(self._tasks.items()):
            if account_id not in wanted or task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                del self._tasks[account_id]
        for account_id in wanted - set(self._tasks):
            self._tasks[account_id] = asyncio.create_task(
                self._poll(account_id, stop), name=f"carrier-poller-{account_id}"
            )

    async def _poll(self, account_id: int, stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                async with singleton(self.engine, account_id) as mine:
                    if not mine:  # another process polls this account; take over if it goes away
                        await _sleep(stop, SUPERVISE_SECONDS)
                        continue
                    while not stop.is_set():
                        queued, interval = await poll_once(self.factory, account_id)
                        if queued:
                            self.wake()
                        delay = 1.0
                        await _sleep(stop, min(interval, SUPERVISE_SECONDS))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("carrier poller for account %s failed; retrying in %.0fs", account_id, delay)
                await _sleep(stop, delay)
                delay = min(delay * 2, 60.0)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
