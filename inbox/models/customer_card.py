"""Tables of the customer card: the marketing consent record (history; the newest row per channel is the
state) and the custom fields an admin defines (their values live in ``customer.fields``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class CustomerConsent(Base):
    """One recorded consent decision: on ``channel`` the customer does (``marketing``) or does not want
    marketing messages; ``source`` says how we learned it (manager, api, customer, import…)."""

    __tablename__ = "customer_consent"
    __table_args__ = (Index("ix_customer_consent_latest", "customer_id", "channel", "recorded_at", "id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # a channel kind: telegram, vk, email, sms, …
    marketing: Mapped[bool] = mapped_column()
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))  # the manager, if one did it


class CustomField(Base):
    """A field an admin adds to every customer card: ``kind`` text | number | date | select (``options``)."""

    __tablename__ = "custom_field"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)  # the key in customer.fields
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
