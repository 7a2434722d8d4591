"""Tables of repeat sales: tasks, segments, broadcasts and their recipients, trigger rules and what they
fired, carts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class SalesTask(Base):
    """A task for a manager: call back, check a payment, follow a customer or an order up."""

    __tablename__ = "sales_task"
    __table_args__ = (Index("ix_sales_task_open", "done_at", "due_at"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime] = mapped_column()
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("trigger_rule.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    """A group of customers: ``dynamic`` (conditions compiled to SQL) or ``static`` (listed members)."""

    __tablename__ = "segment"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default="dynamic")  # dynamic | static
    conditions: Mapped[list[Any]] = mapped_column(default=list)  # [{"field", "op", "value"}], all must hold
    on_dashboard: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SegmentMember(Base):
    """Members of a static segment."""

    __tablename__ = "segment_member"
    __table_args__ = (Index("ix_segment_member_customer", "customer_id"),)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Broadcast(Base):
    __tablename__ = "broadcast"
    __table_args__ = (Index("ix_broadcast_due", "status", "send_at"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"))
    text: Mapped[str] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(500))  # https URL of a picture
    buttons: Mapped[list[Any]] = mapped_column(default=list)  # [{"text", "url"}]
    # scheduled -> planned (recipients written) -> sending -> done; or cancelled
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    send_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    planned_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRecipient(Base):
    """One customer of a broadcast: the unique key means nobody is messaged twice by one broadcast."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "customer_id"),
        Index("ix_broadcast_recipient_state", "broadcast_id", "state", "id"),
        Index("ix_broadcast_recipient_customer", "customer_id"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(10))  # planned | queued | skipped
    reason: Mapped[str | None] = mapped_column(String(20))  # no_channel | no_consent | failed
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), unique=True)
    queued_at: Mapped[datetime | None] = mapped_column()


class TriggerRule(Base):
    """When ``event`` happens (with ``params``) and ``conditions`` hold, do ``actions``."""

    __tablename__ = "trigger_rule"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    conditions: Mapped[list[Any]] = mapped_column(default=list)  # segment conditions on the customer
    actions: Mapped[list[Any]] = mapped_column(default=list)  # [{"kind": "send", "text": ...}, ...]
    enabled: Mapped[bool] = mapped_column(default=True)
    builtin: Mapped[str | None] = mapped_column(String(32), unique=True)  # key of a default rule
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriggerFire(Base):
    """A rule fired for a customer and one occurrence of its event: the unique key makes a repeat a no-op."""

    __tablename__ = "trigger_fire"
    __table_args__ = (
        UniqueConstraint("rule_id", "customer_id", "event_key"),
        Index("ix_trigger_fire_rule", "rule_id", "fired_at"),
        Index("ix_trigger_fire_customer", "customer_id"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("trigger_rule.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    event_key: Mapped[str] = mapped_column(String(120))
    order_id: Mapped[int | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    done: Mapped[list[Any]] = mapped_column(default=list)  # what the actions did, for the rule's page
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cart(Base):
    """A cart the bot, the widget or the shop's site started. Bot carts mirror draft orders (``order_id``)."""

    __tablename__ = "cart"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_cart_open", "status", "updated_at"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    source: Mapped[str] = mapped_column(String(8))  # bot | widget | site
    external_id: Mapped[str | None] = mapped_column(String(100))  # the site's cart id; bot: the order id
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    lines: Mapped[list[Any]] = mapped_column(default=list)  # [{"sku", "name", "qty", "price"}]
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # kopecks
    url: Mapped[str | None] = mapped_column(String(500))  # where the customer can finish it
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | ordered | closed
    reminded_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
