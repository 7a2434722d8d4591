"""Email letters inside a thread: which conversation a letter belongs to, and which order it is about.

Called at ingest for every stored email message (``on_email_message``), and by managers linking or
unlinking an order by hand (``set_order_link``).

Conversation key: a letter joins the conversation of the nearest letter it names in In-Reply-To /
References that we already hold in this thread; otherwise its References root (or In-Reply-To) is the
key, so a reply that arrives before the letter it answers still lands in the same conversation; a letter
without threading headers joins the latest conversation with the same normalised subject; otherwise it
starts one keyed by its own Message-ID.

Order link: a letter is linked to an order when its headers name a letter we sent about that order (or an
earlier letter of this thread already linked), or when its subject / visible text carries the order's
number (pattern per mailbox: ``channel_account.settings["order_pattern"]``, default ``#1042``, ``№1042``,
``заказ 1042``) and the order belongs to the same customer. A number of another customer's order is never
linked; it is flagged in ``meta["order_warnings"]`` for the manager.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.email.conversations import DEFAULT_ORDER_PATTERN, OrderNumberMatcher, normalize_subject
from inbox.core.events import Event, emit
from inbox.models import ChannelAccount, Customer, Direction, Message, Order

MAX_KEY = 254
_ORDER_TAG = re.compile(r"\[\s*(?:#|№)\s*\d+\s*\]")


class OrderLinkError(Exception):
    """A manual order link that cannot be made; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def norm_id(value: object) -> str | None:
    """A Message-ID without angle brackets and surrounding space; None when empty."""
    if not isinstance(value, str):
        return None
    value = value.strip().strip("<>").strip()
    return value or None


def stored_id(message_id: str) -> str:
    """How a Message-ID is stored in ``message.external_id`` (mirrors ``email_parse.bounded_id``)."""
    from inbox.channels.email.parse import bounded_id

    return bounded_id(message_id)


def _key(prefix: str, value: str) -> str:
    key = prefix + value
    if len(key) <= MAX_KEY:
        return key
    return prefix + "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def topic_of(subject: str | None) -> str | None:
    """Hash of the subject without Re:/Fwd: prefixes, list tags and our ``[#1042]`` order tags."""
    value = normalize_subject(_ORDER_TAG.sub(" ", subject or ""))
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def email_headers(message: Message) -> dict[str, Any]:
    value = (message.meta or {}).get("email")
    return dict(value) if isinstance(value, dict) else {}


def named_ids(headers: dict[str, Any]) -> list[str]:
    """Message-IDs a letter names, nearest first: In-Reply-To, then References from the newest."""
    refs = headers.get("references") or []
    if isinstance(refs, str):
        refs = refs.split()
    ids = [norm_id(headers.get("in_reply_to")), *(norm_id(r) for r in reversed(list(refs)))]
    own = norm_id(headers.get("message_id"))
    return [i for i in dict.fromkeys(ids) if i and i != own]


def _root(headers: dict[str, Any]) -> str | None:
    refs = headers.get("references") or []
    if isinstance(refs, str):
        refs = refs.split()
    for ref in refs:
        value = norm_id(ref)
        if value:
            return value
    return norm_id(headers.get("in_reply_to"))


async def _named_messages(session: AsyncSession, ids: Sequence[str], exclude_id: int | None) -> list[Message]:
    """Stored messages (any thread) whose external id is one of ``ids``, in the order of ``ids``."""
    if not ids:
        return []
    keys = {stored_id(i): n for n, i in enumerate(ids)}
    query = select(Message).where(Message.external_id.in_(list(keys)), Message.channel == "email")
    if exclude_id is not None:
        query = query.where(Message.id != exclude_id)
    rows = list((await session.execute(query)).scalars())
    rows.sort(key=lambda m: (keys.get(m.external_id or "", len(keys)), -m.id))
    return rows


async def email_conversation_key(
    session: AsyncSession, message: Message, named: Sequence[Message] | None = None
) -> str:
    """The conversation key of a stored email message (see the module docstring). ``named``: the stored
    letters its headers name, when the caller has them already."""
    headers = email_headers(message)
    if named is None:
        named = await _named_messages(session, named_ids(headers), message.id)
    for ref in named:
        if ref.thread_id == message.thread_id and ref.email_conversation:
            return ref.email_conversation
    root = _root(headers)
    if root:
        return _key("mid:", root)
    topic = topic_of(headers.get("subject"))
    if topic:
        same = (
            await session.execute(
                select(Message.email_conversation)
                .where(
                    Message.thread_id == message.thread_id,
                    Message.email_topic == topic,
                    Message.email_conversation.is_not(None),
                    *([Message.id != message.id] if message.id is not None else []),
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if same:
            return same
    own = norm_id(headers.get("message_id"))
    return _key("mid:", own) if own else "new:" + uuid.uuid4().hex


def parent_summary(parent: Message) -> dict[str, Any]:
    """What the thread view shows of the letter a message answers ("↳ reply to …")."""
    subject = str(email_headers(parent).get("subject") or "")
    preview = " ".join((parent.text or "").split())[:80]
    return {
        "id": parent.id,
        "direction": parent.direction,
        "subject": subject,
        "preview": preview,
        "at": parent.created_at.isoformat() if parent.created_at else None,
    }


async def _owned_customers(session: AsyncSession, customer_id: int) -> set[int]:
    merged = (
        await session.execute(select(Customer.id).where(Customer.merged_into_id == customer_id))
    ).scalars()
    return {customer_id, *merged}


async def _matcher(session: AsyncSession, account_id: int | None) -> OrderNumberMatcher:
    pattern = DEFAULT_ORDER_PATTERN
    if account_id is not None:
        # Read once per session (an ingest batch is one session): the identity map holds the account only
        # weakly, so session.get() went back to the database for every letter.
        patterns: dict[int, str | None] = session.info.setdefault("email_order_patterns", {})
        if account_id not in patterns:
            account = await session.get(ChannelAccount, account_id)
            custom = (account.settings or {}).get("order_pattern") if account is not None else None
            patterns[account_id] = custom if isinstance(custom, str) and custom.strip() else None
        pattern = patterns[account_id] or pattern
    try:
        return _compiled(pattern)
    except ValueError:
        return _compiled(DEFAULT_ORDER_PATTERN)  # a bad pattern must not stop the mail


@functools.lru_cache(maxsize=32)
def _compiled(pattern: str) -> OrderNumberMatcher:
    return OrderNumberMatcher(pattern)


async def link_order(session: AsyncSession, message: Message, named: Sequence[Message] = ()) -> None:
    """Automatic order link of an inbound letter (see the module docstring); sets ``order_id`` and
    ``meta["order_link"]`` / ``meta["order_warnings"]``."""
    meta = dict(message.meta or {})
    linked: Order | None = None
    how = ""
    for ref in named:
        if ref.order_id is None:
            continue
        if ref.direction == Direction.OUT or ref.thread_id == message.thread_id:
            linked = await session.get(Order, ref.order_id)
            if linked is not None:
                how = "header"
                break
    matcher = await _matcher(session, message.account_id)
    numbers = [int(n) for n in matcher.find(str(email_headers(message).get("subject") or ""), message.text)]
    warnings: list[dict[str, Any]] = []
    if numbers:
        orders = list((await session.execute(select(Order).where(Order.number.in_(numbers[:50])))).scalars())
        owned = await _owned_customers(session, message.customer_id)
        by_number = {o.number: o for o in orders}
        for number in numbers:
            order = by_number.get(number)
            if order is None:
                continue
            if order.customer_id in owned:
                if linked is None:
                    linked, how = order, "number"
            else:
                warnings.append({"number": number, "reason": "other_customer"})
    if linked is not None:
        message.order_id = linked.id
        meta["order_link"] = {"how": how, "number": linked.number, "order_id": linked.id}
    if warnings:
        meta["order_warnings"] = warnings
    message.meta = meta


async def on_email_message(session: AsyncSession, message: Message) -> None:
    """The ingest hook for an inbound email message about to be stored (not yet in the database; the
    letters staged before it are flushed): conversation, reply-to summary and automatic order link, set
    before the row is inserted, so it is written once."""
    with session.no_autoflush:
        headers = email_headers(message)
        named = await _named_messages(session, named_ids(headers), message.id)
        conversation = await email_conversation_key(session, message, named)
        previous = await previous_conversation(session, message.thread_id, message.id)
        parent = next((m for m in named if m.thread_id == message.thread_id), None)
        if parent is not None:
            headers["parent"] = parent_summary(parent)
        headers["conversation_start"] = previous != conversation
        message.email_topic = topic_of(headers.get("subject"))
        message.email_conversation = conversation
        message.meta = {**(message.meta or {}), "email": headers}
        await link_order(session, message, named)


async def previous_conversation(
    session: AsyncSession, thread_id: int, before_id: int | None = None
) -> str | None:
    """The conversation of the thread's latest letter (before ``before_id``): the thread view shows a
    subject line where the conversation changes."""
    query = select(Message.email_conversation).where(
        Message.thread_id == thread_id, Message.email_conversation.is_not(None)
    )
    if before_id is not None:
        query = query.where(Message.id < before_id)
    return (await session.execute(query.order_by(Message.id.desc()).limit(1))).scalar_one_or_none()


async def customer_orders(session: AsyncSession, customer_id: int) -> list[Order]:
    """Orders a manager may link a letter of this customer to (newest first)."""
    owned = await _owned_customers(session, customer_id)
    query = select(Order).where(Order.customer_id.in_(owned)).order_by(Order.id.desc()).limit(200)
    return list((await session.execute(query)).scalars())


async def set_order_link(
    session: AsyncSession, message_id: int, order_id: int | None, manager_id: int | None = None
) -> list[Event]:
    """Link a letter to one of its customer's orders, or unlink it (``order_id=None``)."""
    message = await session.get(Message, message_id)
    if message is None or message.direction not in (Direction.IN, Direction.OUT):
        raise LookupError(f"no message {message_id}")
    meta = dict(message.meta or {})
    if order_id is None:
        message.order_id = None
        meta["order_link"] = {"how": "unlinked", "manager_id": manager_id}
    else:
        order = await session.get(Order, order_id)
        if order is None:
            raise OrderLinkError(f"order {order_id} does not exist")
        if order.customer_id not in await _owned_customers(session, message.customer_id):
            raise OrderLinkError(f"order {order.number or order.id} belongs to another customer")
        message.order_id = order.id
        meta["order_link"] = {
            "how": "manual",
            "number": order.number,
            "order_id": order.id,
            "manager_id": manager_id,
        }
    meta.pop("order_warnings", None)  # the manager has decided
    message.meta = meta
    events = [Event("message.updated", thread_id=message.thread_id, message_id=message.id)]
    emit(session, *events)  # published after the commit; the list records it for the caller
    return events
