"""Tables of the conversation core: accounts, customers, identities, threads, messages, raw events, outbox."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inbox.models.base import Base, BigIntPK, utcnow


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    NOTE = "note"
    EVENT = "event"


class Author(StrEnum):
    CUSTOMER = "customer"
    MANAGER = "manager"
    BOT = "bot"
    SYSTEM = "system"


class Delivery(StrEnum):
    NONE = "none"  # inbound messages, notes, events
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class ThreadStatus(StrEnum):
    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"


class ChannelAccount(Base):
    __tablename__ = "channel_account"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Poller position (Telegram offset, VK ts, IMAP UIDs): kept here, never in a local file.
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    phone_verified: Mapped[bool] = mapped_column(default=False)
    email: Mapped[str | None] = mapped_column(String(254), index=True)  # lower-cased
    email_verified: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str | None] = mapped_column(String(8))
    preferred_channel: Mapped[str | None] = mapped_column(String(16))  # explicit choice; None = last inbound
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    birthday: Mapped[date | None] = mapped_column()
    addresses: Mapped[list[Any]] = mapped_column(default=list)  # delivery addresses as typed, newest first
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Identity(Base):
    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("kind", "account_id", "external_id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_account.id"))
    external_id: Mapped[str] = mapped_column(String(254))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    display: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(16))
    verified: Mapped[bool] = mapped_column(default=True)
    blocked: Mapped[bool] = mapped_column(default=False)  # the customer blocked us on this channel
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column()


class Thread(Base):
    __tablename__ = "thread"
    __table_args__ = (Index("ix_thread_activity", "last_message_at", "id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ThreadStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"), index=True)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column()
    last_inbound_channel: Mapped[str | None] = mapped_column(String(16))
    last_preview: Mapped[str] = mapped_column(String(200), default="")
    unread_count: Mapped[int] = mapped_column(default=0)
    snoozed_until: Mapped[datetime | None] = mapped_column()  # hidden from default views until then
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(lazy="raise")


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_message_thread", "thread_id", "id"),
        Index("ix_message_email_conversation", "thread_id", "email_conversation"),
        Index("ix_message_email_topic", "thread_id", "email_topic"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("thread.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str | None] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_account.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identity.id"))
    author: Mapped[str] = mapped_column(String(16))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # sanitised before storage
    # Earlier versions after edits: [{"text": ..., "edited_at": ...}], oldest first.
    revisions: Mapped[list[Any]] = mapped_column(default=list)
    edited_at: Mapped[datetime | None] = mapped_column()
    external_id: Mapped[str | None] = mapped_column(String(254))
    reply_to_external_id: Mapped[str | None] = mapped_column(String(254))
    order_id: Mapped[int | None] = mapped_column(index=True)
    # Email conversation inside the thread (root Message-ID or inherited key) and the hashed normalised
    # subject used to join letters whose threading headers were lost (inbox.channels.email.links).
    email_conversation: Mapped[str | None] = mapped_column(String(254))
    email_topic: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(
        default=dict
    )  # email headers, buttons, quotes, fallback notes
    delivery: Mapped[str] = mapped_column(String(12), default=Delivery.NONE)
    delivery_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attachments: Mapped[list[Attachment]] = relationship(lazy="raise", order_by="Attachment.id")


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo, document, sticker, voice, video, inline
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(default=0)
    path: Mapped[str | None] = mapped_column(String(500))  # relative to INBOX_DATA_DIR; None until fetched
    sha256: Mapped[str | None] = mapped_column(String(64))
    external_ref: Mapped[str | None] = mapped_column(String(500))  # provider file id / url
    content_id: Mapped[str | None] = mapped_column(String(255))  # email inline images


class InboundEvent(Base):
    """A raw provider payload, committed before we acknowledge it; processed afterwards (replayable)."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("account_id", "key"),
        Index("ix_inbound_pending", "processed_at", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_account.id"))
    key: Mapped[str] = mapped_column(String(254))
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[bool] = mapped_column(default=False)  # a type we do not handle: kept raw
    # The conversation the event belongs to (a Telegram chat id), when the channel can tell before parsing:
    # events of one chat are applied in order; None: after every earlier event of the account.
    chat: Mapped[str | None] = mapped_column(String(64))


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "done_at", "next_attempt_at"),
        Index("ix_outbox_chat", "account_id", "chat_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_account.id"))
    chat_id: Mapped[str] = mapped_column(String(254))  # per-chat ordering and pacing key
    kind: Mapped[str] = mapped_column(String(16), default="message")  # message | webhook | edit
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Manager(Base):
    __tablename__ = "manager"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="manager")  # admin | manager
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class KeyValue(Base):
    """Server-side web sessions and other expiring keys (a Litestar store on the database)."""

    __tablename__ = "kv_store"
    namespace: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[bytes] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
