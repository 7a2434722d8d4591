"""Tables of team work: labels, canned replies, notifications, presence, team settings, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class Label(Base):
    __tablename__ = "label"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    color: Mapped[str] = mapped_column(String(16), default="#6b7280")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadLabel(Base):
    __tablename__ = "thread_label"
    __table_args__ = (Index("ix_thread_label_label", "label_id", "thread_id"),)
    thread_id: Mapped[int] = mapped_column(ForeignKey("thread.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("label.id", ondelete="CASCADE"), primary_key=True)


class CustomerLabel(Base):
    __tablename__ = "customer_label"
    __table_args__ = (Index("ix_customer_label_label", "label_id", "customer_id"),)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("label.id", ondelete="CASCADE"), primary_key=True)


class CannedReply(Base):
    """A reusable answer. ``owner_id`` None: shared with the team; else personal to that manager."""

    __tablename__ = "canned_reply"
    __table_args__ = (UniqueConstraint("owner_id", "shortcut"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_inbox", "manager_id", "read_at", "id"),
        # one "customer waiting" notice per (manager, thread, inbound message): the key makes it idempotent
        UniqueConstraint("manager_id", "kind", "dedup_key"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("manager.id"))
    kind: Mapped[str] = mapped_column(String(16))  # assigned | mention | waiting
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("thread.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    text: Mapped[str] = mapped_column(String(300), default="")
    dedup_key: Mapped[str | None] = mapped_column(String(64))
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ManagerPresence(Base):
    """Online / away: ``away`` is the manager's own toggle; ``last_seen_at`` is the SSE heartbeat."""

    __tablename__ = "manager_presence"
    manager_id: Mapped[int] = mapped_column(ForeignKey("manager.id"), primary_key=True)
    away: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column()


class TeamSetting(Base):
    """Settings an admin changes at run time (round robin on/off, waiting alert minutes, rotation state)."""

    __tablename__ = "team_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_time", "created_at", "id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Dashboard ranges scan messages by time; declared here so the core module stays as it was.
def _message_time_index() -> Index:
    from inbox.models.core import Message

    return Index("ix_message_created_at", Message.created_at, Message.id)


message_created_at_index = _message_time_index()
