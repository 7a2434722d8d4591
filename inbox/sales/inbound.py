"""What repeat sales does in the transaction that stores an inbound item, so that a crash cannot lose it.

- A reply "стоп" (or "stop", "отписаться") and an unsubscribe button queue an ``unsubscribe`` outbox task
  in that transaction: committed with the message (or with the raw event marked done), run by a dispatcher,
  retried after a crash. The task switches marketing off and confirms once (the confirmation carries the
  reference of what asked for it, so a task run again after a crash does not confirm twice).
- VK's ``message_allow`` / ``message_deny``: a community may write only to users who allowed it. Deny marks
  the VK identity as not writable (as a 901 answer does), allow clears that; either leaves a note in the
  thread, and broadcasts count an allow like a message the user wrote (see ``broadcasts.vk_allowed``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import live_customer, resolve
from inbox.core.events import Event, EventBus, emit
from inbox.core.ingest import register_inbound_hook
from inbox.core.outbox import Draft, NoChannel, Task, TaskRetry, enqueue, queue_task, register_task
from inbox.core.system_events import system_event
from inbox.core.types import ChannelSource, InboundCallback, InboundItem, InboundPermission
from inbox.customer_card.consent import current_consent, record_consent
from inbox.db import SessionFactory
from inbox.i18n import _, use_locale
from inbox.models import Author, Direction, Identity, Message, Thread
from inbox.sales import unsubscribe
from inbox.settings import Settings

log = logging.getLogger(__name__)
TASK = "unsubscribe"
CONSENT_TASK = "consent_answer"  # Yes / No to the consent question (``triggers.ask_consent``)
ALLOW, DENY = "vk:allow", "vk:deny"  # texts of the permission notes (``broadcasts.vk_allowed`` reads them)


async def on_inbound(session: AsyncSession, item: InboundItem, message: Message | None) -> None:
    if message is not None:
        if message.author == Author.CUSTOMER and unsubscribe.is_stop(message.text):
            queue_task(
                session,
                TASK,
                str(message.customer_id),
                {
                    "customer_id": message.customer_id,
                    "channel": message.channel,
                    "ref": f"m:{message.account_id}:{message.external_id}",
                },
            )
        return
    if isinstance(item, InboundCallback) and item.payload.startswith(unsubscribe.SALES_BUTTONS):
        answer: bool | None = None  # None: the unsubscribe button
        prefix = unsubscribe.BUTTON_PREFIX
        for start, yes in ((unsubscribe.CONSENT_YES, True), (unsubscribe.CONSENT_NO, False)):
            if item.payload.startswith(start):
                answer, prefix = yes, start
        if answer is None and not item.payload.startswith(unsubscribe.BUTTON_PREFIX):
            return
        queue_task(
            session,
            TASK if answer is None else CONSENT_TASK,
            f"cb:{item.account_id}:{item.external_user_id}",
            {
                "token": item.payload[len(prefix) :][:100],
                "answer": answer,
                "channel": str(item.kind),
                "account_id": item.account_id,
                "external_user_id": item.external_user_id,
                "ref": f"cb:{item.account_id}:{item.callback_id}"[:200],
            },
        )
        return
    if isinstance(item, InboundPermission):
        await record_permission(session, item)


async def record_permission(session: AsyncSession, item: InboundPermission) -> None:
    """The user allowed or forbade messages from the community: the identity follows, a note says so."""
    identity = (
        await session.execute(
            select(Identity).where(
                Identity.kind == str(item.kind),
                Identity.account_id == item.account_id,
                Identity.external_id == item.external_user_id,
            )
        )
    ).scalar_one_or_none()
    if identity is None:
        if not item.allowed:
            return  # a stranger forbids what we never did
        res = await resolve(
            session,
            kind=str(item.kind),
            account_id=item.account_id,
            external_id=item.external_user_id,
            hints=item.contact,
            at=item.at,
        )
        identity, thread = res.identity, res.thread
    else:
        customer = await live_customer(session, identity.customer_id)
        found = (
            await session.execute(select(Thread).where(Thread.customer_id == customer.id))
        ).scalar_one_or_none()
        if found is None:
            return
        thread = found
    identity.blocked = not item.allowed
    note = system_event(
        thread_id=thread.id,
        customer_id=thread.customer_id,
        kind="permission",
        text=ALLOW if item.allowed else DENY,
        meta={"allowed": item.allowed},
        at=item.at,
    )
    note.channel = str(item.kind)
    note.account_id = item.account_id
    note.identity_id = identity.id
    session.add(note)
    await session.flush()
    emit(
        session,
        Event("message.new", thread_id=thread.id, message_id=note.id, customer_id=thread.customer_id),
        Event("customer.updated", customer_id=thread.customer_id, data={"permission": item.allowed}),
    )


def unsubscribe_task(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Callable[[], None], _hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        customer_id = payload.get("customer_id")
        if "token" in payload:  # a button: the token names the customer, the presser must be them
            try:
                customer_id, _channel = unsubscribe.read_token(settings.signing_keys, str(payload["token"]))
            except unsubscribe.BadToken:
                log.warning("unsubscribe button with a bad token: %r", str(payload["token"])[:80])
                return
            async with factory() as session:
                owner = (
                    await session.execute(
                        select(Identity.customer_id).where(
                            Identity.kind == payload.get("channel"),
                            Identity.account_id == payload.get("account_id"),
                            Identity.external_id == payload.get("external_user_id"),
                        )
                    )
                ).scalar()
                if owner is None:
                    return
                with contextlib.suppress(LookupError):
                    if (await live_customer(session, owner)).id != (
                        await live_customer(session, customer_id)
                    ).id:
                        return  # someone else's button (a forwarded message)
        if not isinstance(customer_id, int):
            return
        channel, ref = payload.get("channel"), str(payload["ref"])
        try:
            if isinstance(payload.get("answer"), bool):
                yes = bool(payload["answer"])
                await answer_consent(bus, factory, settings, customer_id, str(channel), yes, ref)
            else:
                await opt_out(bus, factory, settings, customer_id, channel, ref)
        except LookupError:
            return  # the customer was erased meanwhile
        except Exception as exc:
            raise TaskRetry(f"{type(exc).__name__}: {exc}") from exc
        wake()

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        log.error("unsubscribe of %s failed for good: %s", payload.get("customer_id"), reason)

    return Task(run=run, give_up=give_up)


async def opt_out(
    bus: EventBus, factory: SessionFactory, settings: Settings, customer_id: int, channel: Any, ref: str
) -> None:
    """Marketing off on every channel and one confirmation per ``ref``, in one transaction."""
    async with bus.transaction(factory) as session:
        customer = await live_customer(session, customer_id)
        await unsubscribe.opt_out(session, customer.id)
        thread = (
            await session.execute(select(Thread).where(Thread.customer_id == customer.id))
        ).scalar_one_or_none()
        if thread is not None and not await _confirmed(session, thread.id, ref):
            with use_locale(customer.locale or settings.default_locale):
                text = _("You are unsubscribed from our newsletters. Orders and answers keep coming.")
            with contextlib.suppress(NoChannel):
                await enqueue(
                    session,
                    thread,
                    Draft(
                        text=text,
                        author=Author.SYSTEM,
                        channel=channel if isinstance(channel, str) else None,
                        meta={"unsubscribe_ref": ref},
                    ),
                )
        emit(session, Event("customer.updated", customer_id=customer.id, data={"consent": "unsubscribed"}))


async def answer_consent(
    bus: EventBus,
    factory: SessionFactory,
    settings: Settings,
    customer_id: int,
    channel: str,
    yes: bool,
    ref: str,
) -> None:
    """The customer answered the consent question on ``channel``: recorded (source ``bot``) unless that is
    already the state, and acknowledged once per ``ref``."""
    async with bus.transaction(factory) as session:
        customer = await live_customer(session, customer_id)
        current = (await current_consent(session, customer.id)).get(channel)
        if current is None or current.marketing != yes:
            await record_consent(session, customer.id, channel, yes, "bot")
        thread = (
            await session.execute(select(Thread).where(Thread.customer_id == customer.id))
        ).scalar_one_or_none()
        if thread is not None and not await _confirmed(session, thread.id, ref):
            with use_locale(customer.locale or settings.default_locale):
                text = (
                    _("Thank you! We will send you news and offers here; reply «стоп» to unsubscribe.")
                    if yes
                    else _("Understood: no offers. Orders and answers keep coming.")
                )
            with contextlib.suppress(NoChannel):
                await enqueue(
                    session,
                    thread,
                    Draft(text=text, author=Author.SYSTEM, channel=channel, meta={"unsubscribe_ref": ref}),
                )
        emit(session, Event("customer.updated", customer_id=customer.id, data={"consent": yes}))


async def _confirmed(session: AsyncSession, thread_id: int, ref: str) -> bool:
    """Whether this request was confirmed already (the task ran before a crash cut it short)."""
    recent = (
        await session.execute(
            select(Message.meta)
            .where(
                Message.thread_id == thread_id,
                Message.author == Author.SYSTEM,
                Message.direction == Direction.OUT,
            )
            .order_by(Message.id.desc())
            .limit(20)
        )
    ).scalars()
    return any(isinstance(m, dict) and m.get("unsubscribe_ref") == ref for m in recent)


register_task(TASK, unsubscribe_task)
register_task(CONSENT_TASK, unsubscribe_task)  # the same task: the payload's "answer" tells them apart
register_inbound_hook(on_inbound)
