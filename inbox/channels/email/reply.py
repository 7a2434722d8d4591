"""Answering letters from the thread: subject, threading headers and order tag of an outgoing letter.

``email_reply_meta`` picks the letter being answered (the one the manager chose, else the latest letter
about the given order, else the latest inbound letter of the thread), and answers the latest inbound letter
of that letter's conversation; only letters a person wrote count (auto-replies and bulk mail never become
the parent): ``Re: <subject>`` (never doubled) with ``[#1042]`` when the letter is
linked to an order whose number the subject does not carry yet, ``in_reply_to`` = its Message-ID and
``references`` = its References + its Message-ID. ``prepare_email_draft`` is what ``outbox.enqueue``
calls for every draft going out by email: it fills what the caller left out, marks letters from bots and
the system ``auto`` (``Auto-Submitted: auto-generated``), and refuses a bot's answer to an auto-reply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.email.compose import reply_subject
from inbox.channels.email.conversations import OrderNumberMatcher
from inbox.channels.email.links import email_headers, norm_id, parent_summary, previous_conversation
from inbox.channels.email.meta import email_part
from inbox.core.meta import EmailPart
from inbox.models import Author, Direction, Message, Order

if TYPE_CHECKING:
    from inbox.core.outbox import Draft

MAX_REFERENCES = 20
SUBJECT_FALLBACK_LEN = 60
PERSON_SCAN = 50  # letters looked at for the newest one a person wrote


class AutoAnswerRefused(Exception):
    """A bot tried to answer an auto-reply / bulk letter: never answered automatically (mail loops)."""


def is_auto(message: Message) -> bool:
    return bool((message.meta or {}).get("auto"))


def may_answer_automatically(message: Message) -> bool:
    """False for auto-replies, bounces and bulk mail: bots and auto-responders must stay silent."""
    return not (message.channel == "email" and is_auto(message))


@dataclass(slots=True)
class ReplyPlan:
    meta: dict[str, Any] = field(default_factory=dict)
    order_id: int | None = None
    letter: Message | None = None


def _email_messages(thread_id: int) -> Select[Message]:
    return (
        select(Message)
        .where(Message.thread_id == thread_id, Message.channel == "email")
        .where(Message.direction.in_([Direction.IN, Direction.OUT]))
        .order_by(Message.id.desc())
    )


async def _newest_person_letter(session: AsyncSession, query: Select[Message]) -> Message | None:
    """The newest letter of ``query`` a person wrote: auto-replies, bounces, bulk mail and our bots'
    letters (all marked ``auto``) never become the parent of an answer."""
    for row in (await session.execute(query.limit(PERSON_SCAN))).scalars():
        if not is_auto(row):
            return row
    return None


async def _base_letter(
    session: AsyncSession, thread_id: int, order_id: int | None, reply_to: int | None
) -> Message | None:
    if reply_to is not None:
        chosen = await session.get(Message, reply_to)
        if chosen is None or chosen.thread_id != thread_id or chosen.channel != "email":
            raise LookupError(f"message {reply_to} is not a letter of thread {thread_id}")
        if not is_auto(chosen):
            return chosen
    letters = _email_messages(thread_id)
    if order_id is not None:
        about = await _newest_person_letter(session, letters.where(Message.order_id == order_id))
        if about is not None:
            return about
    latest_in = await _newest_person_letter(session, letters.where(Message.direction == Direction.IN))
    return latest_in or await _newest_person_letter(session, letters)


async def _answered_letter(session: AsyncSession, base: Message) -> Message:
    """The latest inbound letter a person wrote in ``base``'s conversation; else ``base``."""
    if not base.email_conversation:
        return base
    found = await _newest_person_letter(
        session,
        _email_messages(base.thread_id).where(
            Message.email_conversation == base.email_conversation, Message.direction == Direction.IN
        ),
    )
    return found or base


def _references(letter: Message) -> list[str]:
    headers = email_headers(letter)
    refs = headers.get("references") or []
    if isinstance(refs, str):
        refs = refs.split()
    ids = [norm_id(r) for r in refs]
    own = norm_id(headers.get("message_id")) or (
        norm_id(letter.external_id) if letter.direction == "out" else None
    )
    result = [i for i in dict.fromkeys([*ids, own]) if i]
    if len(result) > MAX_REFERENCES:  # keep the root and the newest (RFC 5322 3.6.4 practice)
        result = [result[0], *result[-(MAX_REFERENCES - 1) :]]
    return result


async def _plan(
    session: AsyncSession, thread_id: int, order_id: int | None = None, reply_to: int | None = None
) -> ReplyPlan:
    base = await _base_letter(session, thread_id, order_id, reply_to)
    if base is None:
        return ReplyPlan(
            meta={"subject": "", "email": {"conversation": "new:" + uuid.uuid4().hex}}, order_id=order_id
        )
    letter = await _answered_letter(session, base)
    headers = email_headers(letter)
    message_id = norm_id(headers.get("message_id"))
    if letter.direction == Direction.OUT:
        message_id = norm_id(letter.external_id)
    subject = reply_subject(str(headers.get("subject") or ""), True)
    linked = order_id or letter.order_id or base.order_id
    if linked is not None:
        order = await session.get(Order, linked)
        number = order.number if order is not None else None
        if number is not None and str(number) not in OrderNumberMatcher().find(subject):
            subject = f"{subject} [#{number}]".strip()
    references = _references(letter)
    meta: dict[str, Any] = {
        "subject": subject,
        "in_reply_to": message_id,
        "references": references,
        "email": {
            "subject": subject,
            "in_reply_to": message_id,
            "references": references,
            "conversation": letter.email_conversation or base.email_conversation,
            "parent": parent_summary(letter),
        },
    }
    return ReplyPlan(meta=meta, order_id=linked, letter=letter)


async def email_reply_meta(
    session: AsyncSession, thread_id: int, order_id: int | None = None, reply_to: int | None = None
) -> dict[str, Any]:
    """Draft meta for an answer by email in ``thread_id`` (see the module docstring). ``reply_to`` is the
    id of the letter the manager chose to answer; LookupError when it is not a letter of this thread."""
    return (await _plan(session, thread_id, order_id, reply_to)).meta


def _fallback_subject(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:SUBJECT_FALLBACK_LEN]


async def _latest_inbound_is_auto(session: AsyncSession, thread_id: int) -> bool:
    latest = (
        await session.execute(_email_messages(thread_id).where(Message.direction == Direction.IN).limit(1))
    ).scalar_one_or_none()
    return latest is not None and is_auto(latest)


async def prepare_email_draft(session: AsyncSession, thread_id: int, draft: Draft) -> Draft:
    """Complete a draft that goes out by email (called by ``outbox.enqueue``)."""
    meta = dict(draft.meta)
    automatic = draft.author in (Author.BOT, Author.SYSTEM)
    if draft.author == Author.BOT and await _latest_inbound_is_auto(session, thread_id):
        raise AutoAnswerRefused("the latest letter is an auto-reply or bulk mail: bots do not answer it")
    order_id = draft.order_id
    email: EmailPart = {**email_part(meta)}
    if not meta.get("subject"):
        plan = await _plan(session, thread_id, draft.order_id)
        meta["subject"] = plan.meta.get("subject", "")
        meta.setdefault("in_reply_to", plan.meta.get("in_reply_to"))
        meta.setdefault("references", plan.meta.get("references", []))
        email = {**email_part(plan.meta), **email}
        order_id = order_id or plan.order_id
    if not meta.get("subject"):
        meta["subject"] = _fallback_subject(draft.text)
    email.setdefault("subject", meta["subject"])
    email.setdefault("in_reply_to", meta.get("in_reply_to"))
    email.setdefault("references", meta.get("references") or [])
    if not email.get("conversation"):
        email["conversation"] = "new:" + uuid.uuid4().hex
    previous = await previous_conversation(session, thread_id)
    email["conversation_start"] = previous != email["conversation"]
    meta["email"] = email
    if automatic:
        meta["auto"] = True
    return replace(draft, meta=meta, order_id=order_id)


def conversation_of(meta: dict[str, Any]) -> str | None:
    """The conversation key ``prepare_email_draft`` put into a draft's meta."""
    value = email_part(meta).get("conversation")
    return str(value)[:254] if value else None
