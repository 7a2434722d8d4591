"""Typed shapes of ``Message.meta``: each channel's and each feature's part has a TypedDict, and
:func:`meta_of` gives a message's meta as :class:`MessageMeta`. The stored JSON is unchanged (the keys are the
ones written since wave 1), so no data migration is needed; the shapes only make readers and writers say
what they expect.

Parts owned by the core and the features live here; a channel's own keys are declared in its package
(``channels/telegram/meta.py``, ``channels/vk/meta.py``, ``channels/sms/meta.py``, ``channels/email/meta.py``)
and listed in :class:`MessageMeta` only by name and JSON type, since the core does not import channels.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, cast

from inbox.models import Message

# ---- the core: system events, outbound buttons, fallback between channels ---------------------------------


class ButtonMeta(TypedDict):
    label: str
    payload: str | None
    url: str | None


class FallbackFrom(TypedDict):
    """On the copy sent through the next channel after a permanent failure."""

    message_id: int
    channel: str | None
    reason: str


class FellBackTo(TypedDict):
    """On the failed copy: where it went instead (it offers no Retry)."""

    message_id: int
    channel: str | None


class ContactMeta(TypedDict, total=False):
    """A contact the customer shared (Telegram): ``own`` when it is their own number (vouched)."""

    phone_number: str
    name: str
    user_id: int | None
    own: bool
    error: str  # the number did not parse


class EmailPart(TypedDict, total=False):
    """The threading data of a letter (``meta["email"]``); written by ingest (inbound) and by the email
    channel's draft hook (outbound). Its full description is ``inbox.channels.email.meta``."""

    subject: str | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    conversation: str
    conversation_start: bool
    parent: dict[str, Any] | None


SystemKind = Literal[
    "assign", "status", "snooze", "handback", "handoff", "order", "merge", "split", "fallback", "note"
]


class MessageMeta(TypedDict, total=False):
    # system events (core.system_events): which event, and its details
    kind: str
    reason: str
    # "from" (the failed channel of a fallback event) is not a Python name: read it with .get("from")
    # outbound messages
    buttons: list[list[ButtonMeta]]
    auto: bool  # written by a bot or the system (an auto-reply must not answer it)
    bot: bool
    test: bool  # a broadcast's test copy
    marketing: bool
    no_fallback: bool
    texts: dict[str, str]  # the text per channel kind, for the fallback (order notices, payment links)
    notification: str  # an order notice's idempotency key
    provider: dict[str, Any]  # what the provider answered on send (parts, random_id, message_id)
    fallback_from: FallbackFrom
    fell_back_to: FellBackTo
    tried_identities: list[int]
    # email (core threading + the email channel)
    subject: str
    in_reply_to: str | None
    references: list[str]
    email: EmailPart
    email_html: str
    list_unsubscribe: str
    auto_reason: str | None
    full_text: str
    to: list[str] | str  # a letter's recipients; a fallback event's channel
    cc: list[str]
    reply_to: str | None
    folder: str | None
    order_link: dict[str, Any]
    order_warnings: list[str]
    # inbound, per channel (see channels/<kind>/meta.py)
    contact: ContactMeta
    sticker: dict[str, Any]
    location: dict[str, Any]
    chat: bool
    chat_type: str
    sender_id: int
    media_group_id: str
    payload: Any
    quotes: list[dict[str, Any]]
    sender_not_a_phone: bool
    attachments_not_sent: int
    # features
    mentions: list[int]  # team: managers @-mentioned in a note
    author_name: str
    payment_link: str  # orders: a payment link message
    payment_id: int
    trigger_rule_id: int  # sales: what fired this message
    trigger_fire_id: int


def meta_of(message: Message) -> MessageMeta:
    """A message's meta as its typed shape (the same dict, read-only by convention)."""
    return cast(MessageMeta, message.meta or {})


def typed(meta: dict[str, Any]) -> MessageMeta:
    """A meta dict being built (a draft's) as its typed shape."""
    return cast(MessageMeta, meta)


def fallback_from(message_id: int, channel: str | None, reason: str) -> FallbackFrom:
    return {"message_id": message_id, "channel": channel, "reason": reason}


def fell_back_to(message_id: int, channel: str | None) -> FellBackTo:
    return {"message_id": message_id, "channel": channel}


def button_meta(label: str, payload: str | None, url: str | None) -> ButtonMeta:
    return {"label": label, "payload": payload, "url": url}
