"""Inbound flow: raw provider payloads are committed first (idempotent on the provider's id), acknowledged,
then processed into customers, threads and messages. Unprocessed events survive restarts and are replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import nh3
from sqlalchemy import ColumnElement, Exists, exists, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from inbox.core.customers import Resolved, apply_vouched, resolve
from inbox.core.events import Event, EventBus, emit
from inbox.core.files import safe_filename, store_bytes
from inbox.core.kinds import hooks_for
from inbox.core.meta import EmailPart
from inbox.core.types import (
    Attachment,
    Channel,
    ChannelSource,
    DeliveryReceipt,
    InboundCallback,
    InboundEdit,
    InboundItem,
    InboundMessage,
    InboundPermission,
    RawEvent,
)
from inbox.db import SessionFactory, insert_for, is_postgres, transaction
from inbox.models import Attachment as AttachmentRow
from inbox.models import (
    Author,
    Customer,
    Delivery,
    Direction,
    Identity,
    InboundEvent,
    Message,
    Thread,
    ThreadStatus,
    utcnow,
)
from inbox.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
PREVIEW_LEN = 140

# Work other modules do in the transaction that stores an inbound item (so a crash cannot lose it): called
# with the item and, for a new message, its staged row (no id yet). Registered at import; core imports none.
InboundHook = Callable[[AsyncSession, InboundItem, Message | None], Awaitable[None]]
INBOUND_HOOKS: list[InboundHook] = []


def register_inbound_hook(hook: InboundHook) -> None:
    if hook not in INBOUND_HOOKS:
        INBOUND_HOOKS.append(hook)


async def run_inbound_hooks(session: AsyncSession, item: InboundItem, message: Message | None) -> None:
    """Run the hooks; what they change commits with the item, their events go out after the commit."""
    for hook in INBOUND_HOOKS:
        await hook(session, item, message)


def raw_row(account_id: int, ev: RawEvent, now: datetime) -> dict[str, object]:
    """An inbound_event row for a raw event received at ``now``: due at once, never tried."""
    return {
        "account_id": account_id,
        "key": ev.key[:254],
        "payload": ev.payload,
        "received_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "skipped": False,
        "chat": ev.chat,
    }


async def store_raw(
    factory: SessionFactory, account_id: int, events: list[RawEvent] | tuple[RawEvent, ...]
) -> int:
    """Commit raw events; a redelivered key is a no-op. Returns how many were new. The caller answers the
    provider only after this returns."""
    if not events:
        return 0
    new = 0
    now = utcnow()
    rows = [raw_row(account_id, ev, now) for ev in events]
    async with transaction(factory) as session:
        # One multi-row INSERT per 200 events (a poller's batch), not a round trip per event.
        for start in range(0, len(rows), 200):
            result = await session.execute(
                insert_for(session, InboundEvent)
                .values(rows[start : start + 200])
                .on_conflict_do_nothing(index_elements=["account_id", "key"])
            )
            new += max(getattr(result, "rowcount", 0) or 0, 0)
    return new


class RawEventWriter:
    """Group commit for webhooks: calls that arrive while a commit is in flight share the next transaction,
    and each is answered only after the transaction holding its events has committed."""

    def __init__(self, factory: SessionFactory, max_batch: int = 500) -> None:
        self.factory = factory
        self.max_batch = max_batch
        self._queue: list[tuple[int, list[RawEvent], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Webhooks are waiting for a commit (queued, or in the transaction in flight)."""
        return bool(self._queue) or (self._task is not None and not self._task.done())

    async def store(self, account_id: int, events: list[RawEvent]) -> None:
        if not events:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((account_id, events, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                async with transaction(self.factory) as session:
                    now = utcnow()
                    rows = [raw_row(account_id, ev, now) for account_id, events, _ in batch for ev in events]
                    for start in range(0, len(rows), 200):
                        await session.execute(
                            insert_for(session, InboundEvent)
                            .values(rows[start : start + 200])
                            .on_conflict_do_nothing(index_elements=["account_id", "key"])
                        )
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)


def preview(text: str | None, attachments: tuple[Attachment, ...] = ()) -> str:
    if text:
        flat = " ".join(text.split())
        return flat[:PREVIEW_LEN]
    if attachments:
        return "📎 " + safe_filename(attachments[0].filename)
    return ""


@dataclass(slots=True)
class Fetched:
    """An inbound attachment whose content is stored (or could not be fetched)."""

    att: Attachment
    path: str | None
    sha256: str | None
    size: int


async def fetch_attachments(
    channel: Channel, msg: InboundMessage, settings: Settings, final: bool
) -> list[Fetched]:
    """Download attachments before the database transaction (network stays outside transactions)."""
    out: list[Fetched] = []
    for att in msg.attachments:
        try:
            data = att.data if att.data is not None else (await channel.fetch(att) if att.ref else None)
        except Exception:
            if not final:
                raise
            log.exception("attachment %s could not be fetched; stored without content", att.filename)
            data = None
        if data is None:
            out.append(Fetched(att, None, None, att.size))
            continue
        stored = store_bytes(settings.data_dir, data)
        out.append(Fetched(att, stored.path, stored.sha256, stored.size))
    return out


@dataclass(slots=True)
class Staged:
    """An inbound message added to the session but not yet flushed (its id comes with the flush)."""

    message: Message
    thread: Thread
    customer_id: int


@dataclass(slots=True)
class BatchCache:
    """What a batch of inbound messages needs from the database, read in a few queries up front."""

    known: set[tuple[int, str]] = field(default_factory=set)  # (account_id, external message id) stored
    identities: dict[tuple[str, int, str], Identity] = field(default_factory=dict)
    customers: dict[int, Customer] = field(default_factory=dict)
    threads: dict[int, Thread] = field(default_factory=dict)  # by customer id

    @classmethod
    async def load(cls, session: AsyncSession, msgs: list[InboundMessage]) -> BatchCache:
        cache = cls()
        by_account: dict[int, set[str]] = {}
        senders: dict[int, set[str]] = {}
        for m in msgs:
            by_account.setdefault(m.account_id, set()).add(m.external_message_id)
            senders.setdefault(m.account_id, set()).add(m.external_user_id)
        for account_id, ids in by_account.items():
            rows = await session.execute(
                select(Message.external_id).where(
                    Message.account_id == account_id, Message.external_id.in_(ids)
                )
            )
            cache.known.update((account_id, str(r)) for r in rows.scalars())
        for account_id, users in senders.items():
            idents = await session.execute(
                select(Identity).where(Identity.account_id == account_id, Identity.external_id.in_(users))
            )
            for ident in idents.scalars():
                cache.identities[(ident.kind, ident.account_id, ident.external_id)] = ident
        customer_ids = {i.customer_id for i in cache.identities.values()}
        if customer_ids:
            for c in (await session.execute(select(Customer).where(Customer.id.in_(customer_ids)))).scalars():
                cache.customers[c.id] = c
            for t in (
                await session.execute(select(Thread).where(Thread.customer_id.in_(customer_ids)))
            ).scalars():
                cache.threads[t.customer_id] = t
        return cache


async def _resolve(session: AsyncSession, msg: InboundMessage, cache: BatchCache | None) -> Resolved:
    key = (str(msg.kind), msg.account_id, msg.external_user_id)
    if cache is not None:
        ident = cache.identities.get(key)
        customer = cache.customers.get(ident.customer_id) if ident is not None else None
        thread = cache.threads.get(customer.id) if customer is not None else None
        if (
            ident is not None
            and customer is not None
            and thread is not None
            and customer.merged_into_id is None
        ):
            # Known sender: the same updates resolve() makes, without the queries.
            apply_vouched(customer, msg.contact)
            if msg.contact.display_name:
                ident.display = msg.contact.display_name[:200]
            if msg.contact.username:
                ident.username = msg.contact.username
            ident.last_seen_at = msg.sent_at
            ident.blocked = False
            return Resolved(identity=ident, customer=customer, thread=thread, created=False)
    res = await resolve(
        session,
        kind=msg.kind,
        account_id=msg.account_id,
        external_id=msg.external_user_id,
        hints=msg.contact,
        at=msg.sent_at,
    )
    if cache is not None:
        cache.identities[key] = res.identity
        cache.customers[res.customer.id] = res.customer
        cache.threads[res.customer.id] = res.thread
    return res


async def stage_message(
    session: AsyncSession, msg: InboundMessage, files: list[Fetched], cache: BatchCache | None = None
) -> Staged | None:
    """Add an inbound message (and its attachments) to the session; None when it is already stored."""
    if cache is not None:
        if (msg.account_id, msg.external_message_id) in cache.known:
            return None  # redelivered under another raw key: nothing doubled
        cache.known.add((msg.account_id, msg.external_message_id))
    else:
        exists = await session.execute(
            select(Message.id).where(
                Message.account_id == msg.account_id, Message.external_id == msg.external_message_id
            )
        )
        if exists.scalar_one_or_none() is not None:
            return None
    res = await _resolve(session, msg, cache)
    meta = dict(msg.meta)
    hints = msg.thread_hints
    if hints.subject or hints.message_id:
        part: EmailPart = {
            "subject": hints.subject,
            "message_id": hints.message_id,
            "in_reply_to": hints.in_reply_to,
            "references": list(hints.references),
        }
        meta["email"] = part
    message = Message(
        thread_id=res.thread.id,
        customer_id=res.customer.id,
        direction=Direction.IN,
        channel=msg.kind,
        account_id=msg.account_id,
        identity_id=res.identity.id,
        author=Author.CUSTOMER,
        text=msg.text,
        html=nh3.clean(msg.html) if msg.html else None,
        external_id=msg.external_message_id,
        reply_to_external_id=hints.reply_to_external_id,
        meta=meta,
        delivery=Delivery.NONE,
        created_at=msg.sent_at,
        revisions=[],
    )
    rows = [
        AttachmentRow(
            kind=f.att.kind,
            filename=safe_filename(f.att.filename),
            content_type=f.att.content_type or "application/octet-stream",
            size=f.size,
            path=f.path,
            sha256=f.sha256,
            external_ref=f.att.ref,
            content_id=f.att.content_id,
        )
        for f in files
    ]
    set_committed_value(message, "attachments", [])
    message.attachments.extend(rows)
    on_stored = hooks_for(msg.kind).inbound_stored
    if on_stored is not None:  # email: conversation key, reply-to, order link
        # The hook reads other messages of the thread, so what is staged before this one is flushed; it
        # runs before this row is added, so the row is inserted once with what the hook sets (no UPDATE).
        await session.flush()
        await on_stored(session, message)
    session.add(message)
    thread = res.thread
    if msg.sent_at >= thread.last_message_at:
        thread.last_message_at = msg.sent_at
        thread.last_preview = preview(msg.text, msg.attachments)
    thread.last_inbound_at = max(thread.last_inbound_at or msg.sent_at, msg.sent_at)
    thread.last_inbound_channel = msg.kind
    thread.unread_count += 1
    if thread.status != ThreadStatus.OPEN:
        thread.status = ThreadStatus.OPEN  # a new customer message reopens the thread
    if thread.snoozed_until is not None:
        thread.snoozed_until = None  # ... and wakes a snoozed one
    return Staged(message, thread, res.customer.id)


def emit_staged(session: AsyncSession, staged: Staged) -> None:
    """Queue the events of a staged message, once it has been flushed (it has an id)."""
    emit(
        session,
        Event(
            "message.new",
            thread_id=staged.thread.id,
            message_id=staged.message.id,
            customer_id=staged.customer_id,
            data={"direction": "in", "channel": staged.message.channel},
        ),
        Event("thread.updated", thread_id=staged.thread.id, customer_id=staged.customer_id),
    )


async def apply_message(session: AsyncSession, msg: InboundMessage, files: list[Fetched]) -> Message | None:
    """Store one inbound message (None: a redelivery, already stored); its events go out after commit."""
    staged = await stage_message(session, msg, files)
    if staged is None:
        return None
    await run_inbound_hooks(session, msg, staged.message)
    await session.flush()
    emit_staged(session, staged)
    return staged.message


class EditTargetMissing(Exception):
    """An edit arrived before its message: retried later."""


async def apply_edit(session: AsyncSession, edit: InboundEdit) -> bool:
    """Apply a customer's edit; False when it changes nothing (older, repeated or the same text)."""
    message = (
        await session.execute(
            select(Message).where(
                Message.account_id == edit.account_id, Message.external_id == edit.external_message_id
            )
        )
    ).scalar_one_or_none()
    if message is None:
        raise EditTargetMissing(f"edit of unknown message {edit.external_message_id}")
    if message.edited_at is not None and message.edited_at >= edit.edited_at:
        return False  # an older or repeated edit
    if (message.text or "") == (edit.text or ""):
        return False
    message.revisions = [*message.revisions, {"text": message.text, "until": edit.edited_at.isoformat()}]
    message.text = edit.text
    message.edited_at = edit.edited_at
    emit(session, Event("message.updated", thread_id=message.thread_id, message_id=message.id))
    return True


async def apply_receipt(session: AsyncSession, receipt: DeliveryReceipt) -> bool:
    """Move the message's delivery state forward (never back); False when it changes nothing."""
    message = (
        await session.execute(
            select(Message).where(
                Message.account_id == receipt.account_id, Message.external_id == receipt.external_message_id
            )
        )
    ).scalar_one_or_none()
    if message is None:
        return False
    rank = {Delivery.QUEUED: 0, Delivery.SENT: 1, Delivery.DELIVERED: 2, Delivery.READ: 3}
    if receipt.state == Delivery.FAILED:
        message.delivery = Delivery.FAILED
        message.delivery_error = receipt.error or "the provider reported a failed delivery"
    elif rank.get(Delivery(receipt.state), 0) > rank.get(Delivery(message.delivery), -1):
        message.delivery = receipt.state
    else:
        return False
    emit(
        session,
        Event(
            "message.updated",
            thread_id=message.thread_id,
            message_id=message.id,
            data={"delivery": message.delivery},
        ),
    )
    return True


@dataclass(slots=True)
class Prepared:
    row: InboundEvent
    items: list[InboundItem]
    fetched: dict[int, list[Fetched]]


CallbackHandler = Callable[[InboundCallback], Awaitable[None]]


BATCH = 50  # raw events per claim
# Raw events per write transaction while webhooks wait (SQLite, one writer at a time): each acknowledgement
# waits for at most one such short transaction instead of a whole batch's, and the first events of a batch
# are published (live updates) as soon as their part commits.
CHUNK_WHEN_BUSY = 10
CLAIM_LOCK = 0x1B0D_0001  # advisory transaction lock that serialises inbound claims on PostgreSQL


class InboundProcessor:
    """Turns committed raw events into messages. Several processes may run it (SKIP LOCKED claims on
    PostgreSQL; on SQLite there is one process)."""

    def __init__(
        self,
        factory: SessionFactory,
        hub: ChannelSource,
        bus: EventBus,
        settings: Settings,
    ) -> None:
        self.factory = factory
        self.hub = hub
        self.bus = bus
        self.settings = settings
        self.wakeup = asyncio.Event()
        self.callback_handlers: list[CallbackHandler] = []
        # True while webhooks wait for the one SQLite writer (set by the workers on SQLite): a batch is then
        # applied in short transactions that let the webhooks' commits in between.
        self.writers_waiting: Callable[[], bool] | None = None

    def _chunk(self, left: int) -> int:
        if self.writers_waiting is not None and self.writers_waiting():
            return min(left, CHUNK_WHEN_BUSY)
        return left

    def wake(self) -> None:
        self.wakeup.set()

    async def claim(self, limit: int = 50) -> list[InboundEvent]:
        now = utcnow()
        async with transaction(self.factory) as session:
            query = (
                select(InboundEvent)
                .where(InboundEvent.processed_at.is_(None), InboundEvent.next_attempt_at <= now)
                .order_by(InboundEvent.id)
                .limit(limit)
            )
            if is_postgres(session):
                # Per-chat order across processes: claims take turns (a short transaction lock), and a
                # chat whose earlier events are leased to another processor waits for them, so one chat's
                # events are applied by one processor at a time, in id order, even when a processor dies
                # holding a lease. Different chats of one account (every Telegram customer of a shop's
                # bot) go to whichever processor claims first. An event of unknown chat (None: every event
                # of the channels that name no chat) waits for every earlier leased event of its account,
                # and every later event waits for it once it is leased. A channel that names chats names
                # them on every event that can change a conversation (Telegram: the others parse to no
                # item), so a chat's events never pass an unplaced event of the same chat.
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK})
                leased = aliased(InboundEvent)

                def waiting(row: Any, *same: ColumnElement[bool]) -> Exists:
                    """An earlier event of the account, leased to a processor (``same``: of this chat)."""
                    return exists().where(
                        leased.account_id == row.account_id,
                        leased.processed_at.is_(None),
                        leased.next_attempt_at > now,
                        leased.error.is_(None),
                        leased.id < row.id,
                        *same,
                    )

                query = query.where(
                    ~waiting(
                        InboundEvent,
                        or_(
                            leased.chat == InboundEvent.chat,
                            leased.chat.is_(None),
                            InboundEvent.chat.is_(None),
                        ),
                    ),
                ).with_for_update(skip_locked=True)
                # Pick and lease in one statement (one round trip instead of two). It must stay a statement
                # of its own after the lock's: in READ COMMITTED a statement's snapshot is taken when it
                # starts, so only a statement begun once the lock is held sees the previous claimer's
                # committed leases (a lock taken inside this statement would come after its snapshot).
                picked = query.with_only_columns(InboundEvent.id).scalar_subquery()
                claimed = (
                    update(InboundEvent)
                    .where(InboundEvent.id.in_(picked))
                    .values(next_attempt_at=now + timedelta(seconds=self.settings.inbound_lease_seconds))
                    .returning(InboundEvent)
                    .execution_options(synchronize_session=False)
                )
                return sorted((await session.execute(claimed)).scalars(), key=lambda r: r.id)
            rows = list((await session.execute(query)).scalars())
            if rows:  # lease: another process skips these until the lease ends
                await session.execute(
                    update(InboundEvent)
                    .where(InboundEvent.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + timedelta(seconds=self.settings.inbound_lease_seconds))
                )
            return rows

    async def process_batch(self, limit: int = 50) -> int:
        """Claim a batch, parse it (network calls outside the transaction), then apply it in one
        transaction with a savepoint per event, so that one bad event never holds back the others."""
        rows = await self.claim(limit)
        if not rows:
            return 0
        prepared: list[Prepared] = []
        failures: list[tuple[InboundEvent, Exception]] = []
        for row in rows:
            try:
                prepared.append(await self._prepare(row))
            except Exception as exc:
                failures.append((row, exc))
        done: list[Prepared] = []
        rest = prepared
        while rest:  # the messages' events are published as each transaction commits
            size = self._chunk(len(rest))
            part, rest = rest[:size], rest[size:]
            try:
                done += await self._apply_fast(part)
            except Exception:
                log.info("batch of %d inbound events failed as a whole; applying one by one", len(part))
                part_done, slow_failures = await self._apply_one_by_one(part)
                done += part_done
                failures += slow_failures
        callbacks = [i for p in done for i in p.items if isinstance(i, InboundCallback)]
        for failed_row, error in failures:
            await self._failed(failed_row, error)
        for cb in callbacks:
            for handler in self.callback_handlers:
                try:
                    await handler(cb)
                except Exception:
                    log.exception("callback handler failed")
        return len(rows)

    async def _apply_fast(self, prepared: list[Prepared]) -> list[Prepared]:
        """The whole batch in one transaction: a few prefetch queries, one flush, one status update."""
        async with self.bus.transaction(self.factory) as session:
            msgs = [i for p in prepared for i in p.items if isinstance(i, InboundMessage)]
            cache = await BatchCache.load(session, msgs) if msgs else None
            staged: list[Staged] = []
            for p in prepared:
                for item in p.items:
                    if isinstance(item, InboundMessage):
                        one = await stage_message(session, item, p.fetched[id(item)], cache)
                        if one is not None:
                            staged.append(one)
                            await run_inbound_hooks(session, item, one.message)
                    elif isinstance(item, InboundCallback | InboundPermission):
                        await session.flush()
                        await run_inbound_hooks(session, item, None)
                    elif isinstance(item, InboundEdit):
                        await session.flush()
                        await apply_edit(session, item)
                    elif isinstance(item, DeliveryReceipt):
                        await session.flush()
                        await apply_receipt(session, item)
            await session.flush()
            for one in staged:
                emit_staged(session, one)
            await self._mark_done(session, prepared)
        return prepared

    async def _apply_one_by_one(
        self, prepared: list[Prepared]
    ) -> tuple[list[Prepared], list[tuple[InboundEvent, Exception]]]:
        """A savepoint per event, so that one bad event never holds back the others (nor publishes)."""
        done: list[Prepared] = []
        failures: list[tuple[InboundEvent, Exception]] = []
        async with self.bus.transaction(self.factory) as session:
            for p in prepared:
                try:
                    async with session.begin_nested():
                        await self._apply(session, p)
                    done.append(p)
                except Exception as exc:
                    failures.append((p.row, exc))
            await self._mark_done(session, done)
        return done, failures

    @staticmethod
    async def _mark_done(session: AsyncSession, done: list[Prepared]) -> None:
        now = utcnow()
        for skipped in (True, False):
            ids = [p.row.id for p in done if (not p.items) == skipped]
            if ids:
                await session.execute(
                    update(InboundEvent)
                    .where(InboundEvent.id.in_(ids))
                    .values(processed_at=now, skipped=skipped, error=None, attempts=InboundEvent.attempts + 1)
                )

    async def _prepare(self, row: InboundEvent) -> Prepared:
        channel = await self.hub.get(row.account_id)
        if channel is None:
            raise LookupError(f"channel account {row.account_id} is missing or disabled")
        items: list[InboundItem] = await channel.parse(RawEvent(row.key, row.payload))
        final = row.attempts + 1 >= MAX_ATTEMPTS
        fetched = {
            id(item): await fetch_attachments(channel, item, self.settings, final)
            for item in items
            if isinstance(item, InboundMessage)
        }
        return Prepared(row, items, fetched)

    @staticmethod
    async def _apply(session: AsyncSession, p: Prepared) -> None:
        for item in p.items:
            if isinstance(item, InboundMessage):
                await apply_message(session, item, p.fetched[id(item)])
            elif isinstance(item, InboundCallback | InboundPermission):
                await run_inbound_hooks(session, item, None)
            elif isinstance(item, InboundEdit):
                await apply_edit(session, item)
            elif isinstance(item, DeliveryReceipt):
                await apply_receipt(session, item)

    async def _failed(self, row: InboundEvent, exc: Exception) -> None:
        attempts = row.attempts + 1
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning(
            "inbound event %s (account %s) failed, attempt %s: %s", row.id, row.account_id, attempts, reason
        )
        values: dict[str, object] = {"attempts": attempts, "error": reason}
        if attempts >= MAX_ATTEMPTS:
            values["processed_at"] = utcnow()  # kept raw with its error; replayable by hand
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=min(2**attempts, 300))
        async with transaction(self.factory) as session:
            await session.execute(update(InboundEvent).where(InboundEvent.id == row.id).values(**values))

    async def run(self, stop: asyncio.Event) -> None:
        """Process as soon as a webhook or poller has committed something (no pause between batches: a
        batch takes whatever is waiting, so it stays small below saturation and grows with the load)."""
        while not stop.is_set():
            # Cleared before the claim, so that a wake-up that arrives while an empty claim is in flight
            # is kept (cleared after it, the event it announced waited for the one-second poll).
            self.wakeup.clear()
            try:
                n = await self.process_batch(BATCH)
            except Exception:
                log.exception("inbound processor loop failed; retrying")
                n = 0
            if n < BATCH and not self.wakeup.is_set():
                # A short batch took all there was, and nothing was committed since: no claim that would
                # find nothing (on SQLite, a write transaction the webhooks wait behind) until a wake-up.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
