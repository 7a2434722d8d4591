"""Confirmation codes: prove that a person controls an email address or a phone number.

:func:`issue` makes a six-digit code for a subject (e.g. one widget visitor), keeps only its salted hash with
an expiry and an attempts counter (table ``key_value``, namespace ``confirm``), and queues a durable outbox
task that sends the code through one of the shop's own channels that reaches such an address (a mailbox for
email, an SMS number for a phone; the channel kinds' ``Capabilities.address`` say which). :func:`verify`
checks a code: a wrong code counts an attempt, the last allowed wrong attempt or the expiry ends the code.

Any channel may use this; a confirmed address is what the identity rules call a vouched contact point.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core import kinds
from inbox.core.customers import apply_vouched, live_customer, resolve
from inbox.core.events import Event, EventBus, emit
from inbox.core.merge import merge_customers, merge_preview
from inbox.core.outbox import Task, TaskRetry, queue_task, register_task
from inbox.core.types import (
    ChannelSource,
    ContactHints,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from inbox.db import SessionFactory, insert_for, transaction
from inbox.models import ChannelAccount, Customer, Identity, KeyValue, utcnow
from inbox.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "confirm"
TASK = "confirm"
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=30)

AddressKind = Literal["email", "phone"]


class ConfirmError(Exception):
    """``reason``: no_channel (the shop has no channel for such addresses), too_soon (a code was just sent),
    missing (no code pending), expired, attempts (too many wrong codes), wrong (``left`` attempts remain)."""

    def __init__(self, reason: str, left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.left = left


@dataclass(frozen=True, slots=True)
class Confirmed:
    address_kind: AddressKind
    address: str


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


async def _account_for(session: Any, address_kind: str) -> int | None:
    """The first enabled real (not demo) account whose kind reaches this kind of address."""
    rows = await session.execute(
        select(ChannelAccount).where(ChannelAccount.enabled.is_(True)).order_by(ChannelAccount.id)
    )
    for row in rows.scalars():
        if row.settings.get("demo"):
            continue
        if kinds.capabilities(row.kind).address == address_kind:
            return int(row.id)
    return None


async def can_send(factory: SessionFactory, address_kind: AddressKind) -> bool:
    async with factory() as session:
        return await _account_for(session, address_kind) is not None


async def issue(
    factory: SessionFactory,
    subject: str,
    address_kind: AddressKind,
    address: str,
    *,
    text: str,
    title: str = "",
) -> None:
    """Send a new code for ``subject`` to ``address``. ``text`` holds ``{code}``; ``title`` is the letter's
    subject line where the channel has one. Replaces a pending code (after RESEND_AFTER)."""
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    now = utcnow()
    async with transaction(factory) as session:
        account_id = await _account_for(session, address_kind)
        if account_id is None:
            raise ConfirmError("no_channel")
        current = (
            await session.execute(
                select(KeyValue)
                .where(KeyValue.namespace == NAMESPACE, KeyValue.key == subject)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if current is not None and current.expires_at is not None and current.expires_at > now:
            sent_at = json.loads(current.value).get("sent_at", 0)
            if now.timestamp() - float(sent_at) < RESEND_AFTER.total_seconds():
                raise ConfirmError("too_soon")
        record = {
            "address_kind": address_kind,
            "address": address,
            "salt": salt,
            "hash": _digest(salt, code),
            "attempts": 0,
            "sent_at": now.timestamp(),
        }
        data = json.dumps(record).encode()
        expires = now + CODE_TTL
        await session.execute(
            insert_for(session, KeyValue)
            .values(namespace=NAMESPACE, key=subject, value=data, expires_at=expires)
            .on_conflict_do_update(
                index_elements=["namespace", "key"], set_={"value": data, "expires_at": expires}
            )
        )
        queue_task(
            session,
            TASK,
            subject,
            {
                "account_id": account_id,
                "address": address,
                "text": text.format(code=code),
                "title": title,
                "id": f"{salt}",
            },
        )


async def verify(factory: SessionFactory, subject: str, code: str) -> Confirmed:
    """The confirmed address, or ConfirmError. A right code is used up."""
    code = "".join(ch for ch in code if ch.isdigit())
    async with transaction(factory) as session:
        row = (
            await session.execute(
                select(KeyValue)
                .where(KeyValue.namespace == NAMESPACE, KeyValue.key == subject)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise ConfirmError("missing")
        record = json.loads(row.value)
        if row.expires_at is None or row.expires_at <= utcnow():
            await session.delete(row)
            raise ConfirmError("expired")
        if hmac.compare_digest(_digest(record["salt"], code), record["hash"]):
            await session.delete(row)
            return Confirmed(record["address_kind"], record["address"])
        record["attempts"] = int(record["attempts"]) + 1
        left = MAX_ATTEMPTS - record["attempts"]
        if left <= 0:
            await session.delete(row)
        else:
            row.value = json.dumps(record).encode()
    raise ConfirmError("attempts" if left <= 0 else "wrong", left=max(left, 0))


async def pending(factory: SessionFactory, subject: str) -> Confirmed | None:
    """The address a live code for ``subject`` was sent to."""
    async with factory() as session:
        row = await session.get(KeyValue, (NAMESPACE, subject))
        if row is None or row.expires_at is None or row.expires_at <= utcnow():
            return None
        record = json.loads(row.value)
        return Confirmed(record["address_kind"], record["address"])


async def forget(factory: SessionFactory, subject: str) -> None:
    async with transaction(factory) as session:
        await session.execute(
            delete(KeyValue).where(KeyValue.namespace == NAMESPACE, KeyValue.key == subject)
        )


def _task(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Callable[[], None], hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        channel = await hub.get(int(payload["account_id"]))
        if channel is None:
            raise PermanentSendError("the channel account is gone or disabled")
        msg = OutboundMessage(
            account_id=int(payload["account_id"]),
            chat_id=str(payload["address"]),
            text=str(payload["text"]),
            idempotency_key=f"confirm-{payload['id']}",
            meta={"subject": payload.get("title") or "", "auto": True},
        )
        try:
            await channel.send(msg)
        except TransientSendError as exc:
            raise TaskRetry(exc.reason) from exc

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        log.warning("a confirmation code to account %s was not sent: %s", payload.get("account_id"), reason)

    return Task(run=run, give_up=give_up)


register_task(TASK, _task)


async def attach_confirmed(
    session: AsyncSession,
    *,
    kind: str,
    account_id: int,
    external_id: str,
    confirmed: Confirmed,
    display_name: str = "",
) -> tuple[int, list[Event]]:
    """The sender ``(kind, account_id, external_id)`` proved it controls ``confirmed.address``, which makes
    the address a vouched contact point (DESIGN §5). A live customer who already holds it (verified, or as
    an identity on the shop's email/SMS channel) absorbs the sender's customer; otherwise the sender's
    customer gets it as verified. Either way the customer gets an identity on the shop's channel for such
    addresses, so answers can go there. Returns the customer id and the events, which are emitted on the
    session (published after the commit by ``EventBus.transaction``)."""
    at = utcnow()
    address = confirmed.address.lower() if confirmed.address_kind == "email" else confirmed.address
    hints = ContactHints(email=address) if confirmed.address_kind == "email" else ContactHints(phone=address)
    mine = await resolve(
        session,
        kind=kind,
        account_id=account_id,
        external_id=external_id,
        hints=ContactHints(display_name=display_name),
        at=at,
    )
    events: list[Event] = []
    target = await _account_for(session, confirmed.address_kind)
    target_row = await session.get(ChannelAccount, target) if target is not None else None
    holder: Customer | None = None
    if target_row is not None:
        ident = (
            await session.execute(
                select(Identity).where(
                    Identity.kind == target_row.kind,
                    Identity.account_id == target_row.id,
                    Identity.external_id == address,
                )
            )
        ).scalar_one_or_none()
        if ident is not None:
            holder = await live_customer(session, ident.customer_id)
    if holder is None:
        column = Customer.email if confirmed.address_kind == "email" else Customer.phone
        verified = Customer.email_verified if confirmed.address_kind == "email" else Customer.phone_verified
        holder = (
            await session.execute(
                select(Customer)
                .where(column == address, verified.is_(True), Customer.merged_into_id.is_(None))
                .order_by(Customer.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    customer_id = mine.customer.id
    if holder is not None and holder.id != mine.customer.id:
        conflicts = await merge_preview(session, holder.id, mine.customer.id)
        result = await merge_customers(
            session,
            holder.id,
            mine.customer.id,
            {c.field: "survivor" for c in conflicts},
            actor="confirmation",
        )
        events += result.events  # already emitted on the session by the merge
        customer_id = holder.id
    else:
        apply_vouched(mine.customer, hints)
        updated = Event("customer.updated", customer_id=customer_id)
        emit(session, updated)
        events.append(updated)
    if target_row is not None:
        await session.execute(
            insert_for(session, Identity)
            .values(
                kind=target_row.kind,
                account_id=target_row.id,
                external_id=address,
                customer_id=customer_id,
                display="",
                verified=True,
                blocked=False,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["kind", "account_id", "external_id"])
        )
    return customer_id, events
