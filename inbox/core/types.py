"""The channel protocol: what every adapter (Telegram, VK, email, SMS) offers the core, and the data types.

Domain code sees only these types. Adapters translate provider payloads into them at the edge and get their
transport (API base URL, credentials) through their constructor, which is how shops point them at a
self-hosted server and how tests point them at local emulators.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol


class ChannelKind(StrEnum):
    """Names of the built-in kinds, for code that names one. The list of kinds is the channel registry
    (``inbox.channels.registry.KINDS``): the core's types take any registered kind as a plain ``str``, so a
    new channel package needs no member here."""

    TELEGRAM = "telegram"
    VK = "vk"
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel kind can do; bots, order notices and the outbox read these instead of the kind."""

    buttons: bool = False  # inline buttons under a message
    numbered_menus: bool = True  # without buttons, a menu is numbered lines answered with a digit
    media: bool = True
    html: bool = False
    edits: bool = False
    max_text_length: int = 4096
    rate_per_account: float = 30.0  # messages per second
    rate_per_chat: float = 1.0
    contact_sharing: bool = False  # the customer can share a vouched phone number with one tap
    address: str | None = None  # what an identity's external id is: "phone", "email", or an opaque id
    notice_text: str = "messenger"  # which order-notice template the kind gets: messenger, sms, email
    # Marketing and the rest of the shop read these instead of the kind:
    link_code: str = ""  # one lowercase letter naming the kind in short signed links (unsubscribe); never
    #   reused or changed, since links already sent carry it
    subject: bool = False  # a message has a subject line (a broadcast's first line becomes it)
    list_unsubscribe: bool = False  # marketing carries an unsubscribe link and a List-Unsubscribe header
    consent_question: bool = False  # a trigger may ask for marketing consent with Yes / No buttons
    write_permission: bool = False  # the provider lets the shop write only to users who wrote first or
    #   allowed messages (a permission note in the thread); a blocked identity is a refusal
    send_only_providers: tuple[str, ...] = ()  # providers (account setting ``provider``) that bring no
    #   replies in: an answer "stop" cannot arrive, so marketing gets an unsubscribe link instead
    history_sync: bool = False  # `inbox channel add` fetches the account's history at once (``--no-sync``)


# ---- inbound ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on an inbound or outbound message. Inbound: ``ref`` is the provider's handle to fetch it;
    outbound: ``path`` is the stored file under the data dir."""

    kind: str  # photo, document, sticker, voice, video, inline
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    ref: str | None = None
    path: str | None = None
    content_id: str | None = None
    data: bytes | None = None  # adapters that receive bytes inline (email) hand them over directly


@dataclass(frozen=True, slots=True)
class ContactHints:
    display_name: str = ""
    username: str | None = None
    locale: str | None = None
    phone: str | None = None  # E.164, vouched for by the provider (shared contact, SMS sender)
    email: str | None = None  # vouched for by the provider (email From)
    phone_unverified: str | None = None  # typed by hand: only ever a suggestion


@dataclass(frozen=True, slots=True)
class ThreadHints:
    subject: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    kind: str  # a registered channel kind
    account_id: int
    external_user_id: str  # tg user id, vk peer id, email address, E.164 phone
    external_message_id: str  # idempotency key, unique per account
    sent_at: datetime  # aware UTC
    text: str | None
    html: str | None = None  # email only; sanitised before storage
    attachments: tuple[Attachment, ...] = ()
    contact: ContactHints = field(default_factory=ContactHints)
    thread_hints: ThreadHints = field(default_factory=ThreadHints)
    meta: Mapping[str, Any] = field(default_factory=dict)  # auto-reply flags, quotes, sticker names


@dataclass(frozen=True, slots=True)
class InboundEdit:
    kind: str  # a registered channel kind
    account_id: int
    external_user_id: str
    external_message_id: str
    edited_at: datetime
    text: str | None


@dataclass(frozen=True, slots=True)
class InboundCallback:
    """A button press (Telegram callback query, VK message_event)."""

    kind: str  # a registered channel kind
    account_id: int
    external_user_id: str
    callback_id: str
    payload: str
    at: datetime
    contact: ContactHints = field(default_factory=ContactHints)


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    kind: str  # a registered channel kind
    account_id: int
    external_message_id: str
    state: str  # sent | delivered | read | failed
    at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InboundPermission:
    """The customer allowed (``allowed``) or forbade messages from us on this channel (VK ``message_allow``
    / ``message_deny``: a community may write only to users who allowed it)."""

    kind: ChannelKind
    account_id: int
    external_user_id: str
    allowed: bool
    at: datetime
    contact: ContactHints = field(default_factory=ContactHints)


InboundItem = InboundMessage | InboundEdit | InboundCallback | DeliveryReceipt | InboundPermission


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A provider payload to commit before acknowledging it. ``key`` is the provider's idempotency id;
    ``chat`` the conversation it belongs to when the channel can tell (events of one chat are applied in
    order, so that several processors may work on one account at once; None: in account order)."""

    key: str
    payload: dict[str, Any]
    chat: str | None = None


# ---- outbound --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str | None = None  # callback data
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    account_id: int
    chat_id: str  # the identity's external id
    text: str
    idempotency_key: str  # derived from the outbox row: VK random_id, email Message-ID
    attachments: tuple[Attachment, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    html: str | None = None
    reply_to_external_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)  # email subject / references, SMS options


@dataclass(frozen=True, slots=True)
class SentMessage:
    external_id: str
    state: str = "sent"  # some providers confirm delivery at once
    meta: Mapping[str, Any] = field(default_factory=dict)


class SendError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientSendError(SendError):
    """Try again later (rate limit, 5xx, timeout). ``retry_after`` is the provider's own wait, if given."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Will never succeed on this channel (blocked bot, unknown user, invalid number)."""


# ---- webhooks --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    query: Mapping[str, str]
    url: str  # the full URL the provider called (signatures cover it)
    sub_path: str = ""  # "" or "status"


@dataclass(frozen=True, slots=True)
class WebhookResult:
    events: tuple[RawEvent, ...]
    body: str = "ok"
    status: int = 200
    content_type: str = "text/plain"


class WebhookRejected(Exception):
    """The request is refused; ``status`` and the reason go back to the caller, nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


InboundSink = Callable[[list[RawEvent]], Awaitable[None]]


class Channel(Protocol):
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    account_id: int

    async def start(self) -> None:
        """Prepare the transport (e.g. set the Telegram webhook). Called once by the worker."""

    async def run(self, sink: InboundSink, state: PollState) -> None:
        """Poll forever (long polling / IDLE); commit through ``sink`` before advancing ``state``.
        Webhook-mode adapters return at once."""

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        """Verify and split a webhook call into raw events. Raises WebhookRejected."""

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        """Turn one committed raw event into domain items (may call the provider, e.g. for names)."""

    async def fetch(self, attachment: Attachment) -> bytes:
        """Download an inbound attachment's content."""

    async def send(self, msg: OutboundMessage) -> SentMessage:
        """Deliver one message. Raises TransientSendError or PermanentSendError."""

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        """Acknowledge a button press (Telegram answerCallbackQuery, VK sendMessageEventAnswer)."""

    async def close(self) -> None: ...


class PollState(Protocol):
    """The poller's position, kept in ``channel_account.state`` (never in a local file)."""

    async def load(self) -> dict[str, Any]: ...

    async def save(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """What an adapter is built from: one ``channel_account`` row, detached from the ORM."""

    id: int
    kind: str  # a registered channel kind
    name: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, Any]


class ChannelSource(Protocol):
    """Where the core gets the adapter of an account (the channel hub; tests may pass their own)."""

    async def get(self, account_id: int) -> Channel | None:
        """The adapter of an enabled account, or None if there is no such account."""
