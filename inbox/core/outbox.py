"""Outbound flow: a message and its outbox row commit together; dispatchers claim due rows, pace them per
account and per chat, send through the channel adapter, retry transient errors with capped exponential
backoff, keep per-chat order, and mark permanent failures visibly (then fall back to another channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from inbox import metrics
from inbox.core.customers import live_customer, pick_identity
from inbox.core.events import Event, EventBus, emit
from inbox.core.files import resolve as resolve_file
from inbox.core.kinds import capabilities, hooks_for
from inbox.core.meta import ButtonMeta, button_meta, fallback_from, fell_back_to, meta_of, typed
from inbox.core.ratelimit import Pacer, RateLimiter, make_limiter, per_second
from inbox.core.system_events import system_event
from inbox.core.types import (
    Attachment,
    Button,
    ChannelSource,
    OutboundMessage,
    PermanentSendError,
    SentMessage,
    TransientSendError,
)
from inbox.db import SessionFactory, is_postgres, transaction
from inbox.gcpolicy import freeze_long_lived
from inbox.models import Attachment as AttachmentRow
from inbox.models import (
    Author,
    Customer,
    Delivery,
    Direction,
    Identity,
    Message,
    Outbox,
    Thread,
    ThreadStatus,
    utcnow,
)
from inbox.settings import Settings

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class TaskRetry(Exception):
    """A background task (``register_task``) failed transiently: retried with backoff, then given up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Task:
    """Work other than a message that must survive restarts and be retried: a provider call (check a payment
    notification, poll a parcel). ``run`` raises TaskRetry to be retried; any other error, or running out of
    attempts, ends in ``give_up`` with the reason (which must make the failure visible to a manager)."""

    run: Callable[[dict[str, Any]], Awaitable[None]]
    give_up: Callable[[dict[str, Any], str], Awaitable[None]]


# built once per dispatcher with its database, event bus, settings, outbox wake-up and channel source
TaskFactory = Callable[[SessionFactory, EventBus, Settings, Callable[[], None], ChannelSource], Task]
TASKS: dict[str, TaskFactory] = {}


def register_task(kind: str, factory: TaskFactory) -> None:
    """Outbox rows of ``kind`` (≤ 16 characters) are run by the task ``factory`` builds for a dispatcher."""
    if len(kind) > 16 or kind in ("message", "webhook", "edit"):
        raise ValueError(f"bad task kind {kind!r}")
    TASKS[kind] = factory


def queue_task(session: AsyncSession, kind: str, key: str, payload: dict[str, Any]) -> Outbox:
    """An outbox row for task ``kind``, committed with the caller's transaction; ``key`` keeps rows of one
    subject in order (they share a chat id)."""
    row = Outbox(
        message_id=None,
        account_id=None,
        chat_id=f"task:{kind}:{key}"[:254],
        kind=kind,
        payload=payload,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row


class NoChannel(Exception):
    """The customer has no channel we can answer on (or not the one asked for)."""


@dataclass(frozen=True, slots=True)
class NewAttachment:
    kind: str
    filename: str
    content_type: str
    path: str  # stored file, relative to the data dir
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    author: Author = Author.MANAGER
    manager_id: int | None = None
    channel: str | None = None
    attachments: tuple[NewAttachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    order_id: int | None = None


async def enqueue(session: AsyncSession, thread: Thread, draft: Draft) -> Message:
    """Create the outbound message and its outbox row in the caller's transaction; its events are published
    after that transaction commits."""
    customer = await live_customer(session, thread.customer_id)
    identity = await pick_identity(session, customer, thread, channel=draft.channel)
    if identity is None:
        if draft.channel:
            raise NoChannel(f"the customer has no usable {draft.channel} channel")
        raise NoChannel("the customer has no channel we can answer on")
    hooks = hooks_for(identity.kind)
    if hooks.prepare_draft is not None:  # email: subject, threading headers, order tag, auto flag
        draft = await hooks.prepare_draft(session, thread.id, draft)
    message = Message(
        thread_id=thread.id,
        customer_id=customer.id,
        direction=Direction.OUT,
        channel=identity.kind,
        account_id=identity.account_id,
        identity_id=identity.id,
        author=draft.author,
        manager_id=draft.manager_id,
        text=draft.text,
        meta={**draft.meta, "buttons": [[_button(b) for b in row] for row in draft.buttons]},
        delivery=Delivery.QUEUED,
        order_id=draft.order_id,
        email_conversation=hooks.conversation_of(draft.meta) if hooks.conversation_of else None,
        revisions=[],
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    rows = [
        AttachmentRow(
            message_id=message.id,
            kind=a.kind,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            path=a.path,
            sha256=a.sha256,
        )
        for a in draft.attachments
    ]
    session.add_all(rows)
    await session.flush()
    set_committed_value(message, "attachments", rows)
    session.add(
        Outbox(
            message_id=message.id,
            account_id=identity.account_id,
            chat_id=identity.external_id,
            next_attempt_at=utcnow(),
            payload={},
        )
    )
    thread.last_message_at = message.created_at
    thread.last_preview = (draft.text or (draft.attachments[0].filename if draft.attachments else ""))[:140]
    if draft.author == Author.MANAGER:
        thread.unread_count = 0
        if thread.status == ThreadStatus.OPEN:
            thread.status = ThreadStatus.WAITING
    emit(
        session,
        Event(
            "message.new",
            thread_id=thread.id,
            message_id=message.id,
            customer_id=customer.id,
            data={"direction": "out", "channel": identity.kind},
        ),
        Event("thread.updated", thread_id=thread.id, customer_id=customer.id),
    )
    return message


def _button(b: Button) -> ButtonMeta:
    return button_meta(b.label, b.payload, b.url)


async def retry(session: AsyncSession, message_id: int) -> Message:
    """Resend a failed message (the Retry button): the same outbox row goes back in the queue."""
    message = await session.get(Message, message_id)
    if message is None or message.direction != Direction.OUT:
        raise LookupError(f"no outbound message {message_id}")
    if message.delivery != Delivery.FAILED:
        raise ValueError("only a failed message can be retried")
    if meta_of(message).get("fell_back_to"):
        raise ValueError("this message was already sent through another channel")
    row = (await session.execute(select(Outbox).where(Outbox.message_id == message_id))).scalar_one_or_none()
    if row is None:
        raise LookupError(f"message {message_id} has no outbox row")
    row.done_at = None
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.claimed_by = None
    row.claimed_until = None
    row.last_error = None
    message.delivery = Delivery.QUEUED
    message.delivery_error = None
    emit(
        session,
        Event(
            "message.updated", thread_id=message.thread_id, message_id=message.id, data={"delivery": "queued"}
        ),
    )
    return message


def backoff(attempts: int, cap: float) -> float:
    """Capped exponential backoff with jitter: 2, 4, 8 … seconds, at most ``cap``."""
    base: float = min(cap, 2.0 ** max(attempts, 1))
    return float(base * random.uniform(0.8, 1.0))


DEFAULT_SEND_TIMEOUT = 30.0  # a channel that names no ``send_timeout``
LEASE_MARGIN = 2.0  # seconds kept between the end of a send and the end of its lease


def send_budget(lease: float, elapsed: float, channel: object) -> float | None:
    """How long a send that starts now may take, None when it must not start. A send must end before its row's
    lease does, or another dispatcher claims the row and sends it a second time: it starts only while the
    lease still covers the channel's own request timeout, and is cut off (a transient error, retried) at
    the margin before the lease ends."""
    left = lease - elapsed - LEASE_MARGIN
    timeout = getattr(channel, "send_timeout", None)
    needed = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else DEFAULT_SEND_TIMEOUT
    if left < min(needed, lease / 2):
        return None
    return left


@dataclass(slots=True)
class Claimed:
    outbox: Outbox
    message: Message | None
    at: float = field(default_factory=time.monotonic)  # when the lease was taken


class Dispatcher:
    def __init__(
        self,
        factory: SessionFactory,
        hub: ChannelSource,
        bus: EventBus,
        settings: Settings,
        concurrency: int = 32,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.factory = factory
        self.hub = hub
        self.bus = bus
        self.settings = settings
        self.wakeup = asyncio.Event()
        # Provider limits as sliding windows, shared by the cluster through Redis when configured.
        self.limiter = (
            limiter if limiter is not None else make_limiter(settings.redis_url, settings.database_url)
        )
        self.pacer = Pacer(self.limiter)
        self.sem = asyncio.Semaphore(concurrency)
        self.tasks: dict[str, Task] = {}

    def wake(self) -> None:
        self.wakeup.set()

    async def release_own_claims(self) -> None:
        """On start: rows claimed on this host by a process that is gone (a crash) go back to the queue at
        once. Claims of live processes (other workers on this host, or this process's own webhook sender)
        stay with their holders, and leases of other hosts expire by themselves."""
        async with transaction(self.factory) as session:
            holders = (
                await session.execute(
                    select(Outbox.claimed_by)
                    .where(Outbox.done_at.is_(None), Outbox.claimed_by.like(f"{socket.gethostname()}:%"))
                    .distinct()
                )
            ).scalars()
            gone = [h for h in holders if h is not None and not _process_alive(h)]
            if gone:
                await session.execute(
                    update(Outbox)
                    .where(Outbox.done_at.is_(None), Outbox.claimed_by.in_(gone))
                    .values(claimed_by=None, claimed_until=None)
                )

    async def claim(self, limit: int = 100) -> list[Claimed]:
        """Due channel messages (shop webhooks on the same queue have their own sender)."""
        rows = await claim_due(self.factory, self.settings, Outbox.kind != "webhook", limit)
        if not rows:
            return []
        ids = [r.message_id for r in rows if r.message_id is not None]
        async with self.factory() as session:
            msgs = {
                m.id: m
                for m in (
                    await session.execute(
                        select(Message).where(Message.id.in_(ids)).options(selectinload(Message.attachments))
                    )
                ).scalars()
            }
        return [Claimed(r, msgs.get(r.message_id) if r.message_id else None) for r in rows]

    async def dispatch_once(self) -> int:
        claimed = await self.claim()
        if not claimed:
            return 0
        return await self._dispatch(claimed)

    async def _dispatch(self, claimed: list[Claimed]) -> int:
        by_chat: dict[tuple[int | None, str], list[Claimed]] = defaultdict(list)
        for c in claimed:
            by_chat[(c.outbox.account_id, c.outbox.chat_id)].append(c)
        await asyncio.gather(*(self._send_chat(items) for items in by_chat.values()))
        return len(claimed)

    async def _send_chat(self, items: Sequence[Claimed]) -> None:
        # Per-chat order: the claim query only ever hands out the oldest pending row of a chat.
        for c in items:
            await self._send_one(c)

    async def _send_one(self, c: Claimed) -> None:
        row, message = c.outbox, c.message
        if row.kind in TASKS:
            async with self.sem:
                await self._run_task(row)
            return
        if message is None or row.account_id is None:
            await self._finish(row, None, error="nothing to send")
            return
        if message.external_id:  # already sent (a crash after the provider answered): never send twice
            await self._finish(row, message, sent=None)
            return
        channel = await self.hub.get(row.account_id)
        if channel is None:
            await self._permanent(row, message, "the channel account is disabled or was removed")
            return
        # The adapter's libraries are imported now: their objects live as long as the process.
        freeze_long_lived("first channel adapter")
        caps = channel.capabilities
        acct_rate = getattr(channel, "rate_per_account", caps.rate_per_account)
        chat_rate = getattr(channel, "rate_per_chat", caps.rate_per_chat)
        chat_key = f"chat:{row.account_id}:{row.chat_id}"
        shared, own = per_second(f"acct:{row.account_id}", acct_rate), per_second(chat_key, chat_rate)
        out = OutboundMessage(
            account_id=row.account_id,
            chat_id=row.chat_id,
            text=message.text or "",
            idempotency_key=str(row.id),
            attachments=tuple(
                Attachment(
                    kind=a.kind,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    path=str(resolve_file(self.settings.data_dir, a.path)) if a.path else None,
                )
                for a in message.attachments
            ),
            buttons=tuple(tuple(Button(**b) for b in r) for r in message.meta.get("buttons", [])),
            html=message.html,
            reply_to_external_id=message.reply_to_external_id,
            meta={k: v for k, v in message.meta.items() if k != "buttons"},
        )
        kind = str(channel.kind)
        try:
            # Waiting for the slot holds no concurrency permit: only sends in flight count against it.
            async with self.pacer.slot(shared, own):
                left = send_budget(self.settings.outbox_lease_seconds, time.monotonic() - c.at, channel)
                if left is None:  # its turn came too late for a whole send within the lease: not sent,
                    if time.monotonic() - c.at < self.settings.outbox_lease_seconds - 1:
                        await self._release(row)  # so back in the queue now, not at the lease's end
                    return  # (past its lease the row may already be someone's again: left alone)
                async with self.sem, asyncio.timeout(left):
                    sent = await channel.send(out)
        except TransientSendError as exc:
            if exc.retry_after:
                await self.limiter.pause(chat_key, exc.retry_after)
            metrics.count_send_error(kind, "rate_limited" if exc.retry_after else "transient")
            await self._transient(row, message, exc)
        except TimeoutError:  # cut off before its lease ran out (send_budget): ambiguous, so sent again later
            metrics.count_send_error(kind, "transient")
            await self._transient(row, message, TransientSendError("the send outlasted its lease; retrying"))
        except PermanentSendError as exc:
            metrics.count_send_error(kind, "blocked" if _blocked(exc.reason) else "permanent")
            await self._permanent(row, message, exc.reason)
        except Exception as exc:  # an adapter bug must not kill the dispatcher; treat as transient
            log.exception("adapter raised an unexpected error")
            metrics.count_send_error(kind, "adapter")
            await self._transient(row, message, TransientSendError(f"{type(exc).__name__}: {exc}"))
        else:
            await self._finish(row, message, sent=sent)
            metrics.count_sent(kind)

    async def _finish(
        self, row: Outbox, message: Message | None, sent: SentMessage | None = None, error: str | None = None
    ) -> None:
        async with self.bus.transaction(self.factory) as session:
            await finish_row(session, row, error)
            if message is not None and sent is not None:
                state = sent.state if sent.state in {s.value for s in Delivery} else Delivery.SENT
                await session.execute(
                    update(Message)
                    .where(Message.id == message.id)
                    .values(
                        external_id=sent.external_id,
                        delivery=state,
                        delivery_error=None,
                        sent_at=utcnow(),
                        meta={**message.meta, **({"provider": dict(sent.meta)} if sent.meta else {})},
                    )
                )
                if message.identity_id is not None:  # it reached them: the channel works again
                    await session.execute(
                        update(Identity)
                        .where(Identity.id == message.identity_id, Identity.blocked.is_(True))
                        .values(blocked=False)
                    )
                emit(
                    session,
                    Event(
                        "message.updated",
                        thread_id=message.thread_id,
                        message_id=message.id,
                        data={"delivery": state},
                    ),
                )

    async def _run_task(self, row: Outbox) -> None:
        task = self.tasks.get(row.kind)
        if task is None:
            task = self.tasks[row.kind] = TASKS[row.kind](
                self.factory, self.bus, self.settings, self.wake, self.hub
            )
        try:
            await task.run(dict(row.payload))
        except TaskRetry as exc:
            attempts = row.attempts + 1
            if attempts >= self.settings.outbox_max_attempts:
                reason = f"gave up after {attempts} attempts: {exc.reason}"
                await self._task_gave_up(task, row, reason)
                return
            wait = backoff(attempts, self.settings.outbox_backoff_cap)
            async with transaction(self.factory) as session:
                await reschedule(session, row, attempts, wait, exc.reason)
            return
        except Exception as exc:
            log.exception("task %s failed", row.kind)
            await self._task_gave_up(task, row, f"{type(exc).__name__}: {exc}")
            return
        await self._finish(row, None)

    async def _task_gave_up(self, task: Task, row: Outbox, reason: str) -> None:
        try:
            await task.give_up(dict(row.payload), reason)
        except Exception:
            log.exception("task %s: give_up failed", row.kind)
        await self._finish(row, None, error=reason[:2000])

    async def _release(self, row: Outbox) -> None:
        async with transaction(self.factory) as session:
            await session.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.claimed_by == WORKER_ID, Outbox.done_at.is_(None))
                .values(claimed_by=None, claimed_until=None)
            )

    async def _transient(self, row: Outbox, message: Message, exc: TransientSendError) -> None:
        attempts = row.attempts + 1
        if attempts >= self.settings.outbox_max_attempts:
            await self._permanent(row, message, f"gave up after {attempts} attempts: {exc.reason}")
            return
        wait = max(exc.retry_after or 0.0, backoff(attempts, self.settings.outbox_backoff_cap))
        async with self.bus.transaction(self.factory) as session:
            await reschedule(session, row, attempts, wait, exc.reason)
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(delivery_error=f"retrying in {wait:.0f}s: {exc.reason}")
            )
            emit(session, Event("message.updated", thread_id=message.thread_id, message_id=message.id))

    async def _permanent(self, row: Outbox, message: Message, reason: str) -> None:
        async with self.bus.transaction(self.factory) as session:
            await session.execute(
                update(Outbox)
                .where(Outbox.id == row.id)
                .values(
                    attempts=row.attempts + 1,
                    done_at=utcnow(),
                    claimed_by=None,
                    claimed_until=None,
                    last_error=reason,
                )
            )
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(delivery=Delivery.FAILED, delivery_error=reason)
            )
            if message.identity_id is not None and _blocked(reason):
                await session.execute(
                    update(Identity).where(Identity.id == message.identity_id).values(blocked=True)
                )
            emit(
                session,
                Event(
                    "message.updated",
                    thread_id=message.thread_id,
                    message_id=message.id,
                    data={"delivery": "failed"},
                ),
            )
            await self._fallback(session, message, reason)

    async def _fallback(self, session: AsyncSession, failed: Message, reason: str) -> None:
        """A permanent failure falls back to the customer's next channel (shop-wide order), noted in the
        thread."""
        before = meta_of(failed)
        if before.get("no_fallback") or failed.author == Author.SYSTEM:
            return
        thread = await session.get(Thread, failed.thread_id)
        customer = await session.get(Customer, failed.customer_id)
        if thread is None or customer is None:
            return
        tried = set(before.get("tried_identities", [])) | {failed.identity_id}
        ident = await pick_identity(session, customer, thread, exclude={i for i in tried if i is not None})
        if ident is None:
            return
        attachments = (
            await session.execute(select(AttachmentRow).where(AttachmentRow.message_id == failed.id))
        ).scalars()
        texts = before.get("texts")  # order notifications carry a text per channel kind
        kind = capabilities(ident.kind).notice_text
        text = texts.get(kind) if isinstance(texts, dict) else None
        meta = typed({k: v for k, v in before.items() if k != "buttons"})
        meta["fallback_from"] = fallback_from(failed.id, failed.channel, reason)
        meta["tried_identities"] = sorted(i for i in tried if i is not None)
        draft = Draft(
            text=text if isinstance(text, str) and text else failed.text or "",
            author=Author(failed.author),
            manager_id=failed.manager_id,
            channel=ident.kind,
            attachments=tuple(
                NewAttachment(a.kind, a.filename, a.content_type, a.path or "", a.sha256 or "", a.size)
                for a in attachments
                if a.path
            ),
            meta=dict(meta),
            order_id=failed.order_id,
        )
        message = await enqueue(session, thread, draft)
        # The failed copy is settled: it went out on another channel, so it offers no Retry (no double send).
        settled = typed(dict(before))
        settled["fell_back_to"] = fell_back_to(message.id, message.channel)
        await session.execute(update(Message).where(Message.id == failed.id).values(meta=dict(settled)))
        note = system_event(
            thread_id=thread.id,
            customer_id=customer.id,
            kind="fallback",
            text=f"fallback:{failed.channel}:{message.channel}",
            meta={"reason": reason, "from": failed.channel, "to": message.channel},
        )
        session.add(note)

    async def run(self, stop: asyncio.Event, overlap: int = 2) -> None:
        """Claim and send until ``stop``. Up to ``overlap`` claimed batches are sent at once, so the next
        batch is claimed and waiting for its slots while the last one finishes (no gap in the pace)."""
        await self.release_own_claims()
        batches: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                # Cleared before the claim: a row committed while the claim runs wakes the wait below at
                # once instead of being found by the next half-second poll.
                self.wakeup.clear()
                if len(batches) < overlap:
                    try:
                        claimed = await self.claim()
                    except Exception:
                        log.exception("dispatcher loop failed; retrying")
                        claimed = []
                    if claimed:
                        batches.add(asyncio.create_task(self._dispatch(claimed)))
                        continue
                woken = asyncio.ensure_future(self.wakeup.wait())
                try:
                    done, _ = await asyncio.wait(
                        [woken, *batches], timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                for batch in done - {woken}:
                    batches.discard(batch)  # type: ignore[arg-type]
                    if not batch.cancelled() and batch.exception() is not None:
                        log.error("dispatcher batch failed", exc_info=batch.exception())
            if batches:  # stopping: the batches under way finish (a send cut short could go out twice)
                await asyncio.wait(batches)
        finally:
            for batch in batches:
                batch.cancel()
            for batch in batches:
                with contextlib.suppress(asyncio.CancelledError):
                    await batch


async def claim_due(
    factory: SessionFactory, settings: Settings, which: ColumnElement[bool], limit: int = 100
) -> list[Outbox]:
    """Lease up to ``limit`` due rows of the queue matching ``which``, the oldest pending row of each chat
    only (per-chat order); other processes skip them (SKIP LOCKED on PostgreSQL) until the lease ends."""
    now = utcnow()
    earlier = aliased(Outbox)
    async with transaction(factory) as session:
        query = (
            select(Outbox)
            .where(which, Outbox.done_at.is_(None), Outbox.next_attempt_at <= now)
            .where((Outbox.claimed_until.is_(None)) | (Outbox.claimed_until < now))
            .where(
                ~exists().where(
                    and_(
                        earlier.account_id == Outbox.account_id,
                        earlier.chat_id == Outbox.chat_id,
                        earlier.done_at.is_(None),
                        earlier.id < Outbox.id,
                    )
                )
            )
            .order_by(Outbox.id)
            .limit(limit)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True, of=Outbox)
        rows = list((await session.execute(query)).scalars())
        if rows:
            until = now + timedelta(seconds=settings.outbox_lease_seconds)
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_([r.id for r in rows]))
                .values(claimed_by=WORKER_ID, claimed_until=until)
            )
        return rows


async def finish_row(session: AsyncSession, row: Outbox, error: str | None = None) -> None:
    """The row is settled (sent, or given up with ``error``): out of the queue for good."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id)
        .values(
            done_at=utcnow(), claimed_by=None, claimed_until=None, last_error=error, attempts=row.attempts + 1
        )
    )


async def reschedule(session: AsyncSession, row: Outbox, attempts: int, wait: float, reason: str) -> None:
    """Back in the queue after a transient error: unclaimed, due again in ``wait`` seconds."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == row.id)
        .values(
            attempts=attempts,
            next_attempt_at=utcnow() + timedelta(seconds=wait),
            claimed_by=None,
            claimed_until=None,
            last_error=reason,
        )
    )


def _process_alive(holder: str) -> bool:
    """Whether the process named by a claim (``host:pid``, this host) still runs."""
    try:
        os.kill(int(holder.rsplit(":", 1)[1]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _blocked(reason: str) -> bool:
    lowered = reason.lower()
    return any(s in lowered for s in ("blocked", "forbidden", "deactivated", "can't send", "unsubscribed"))
