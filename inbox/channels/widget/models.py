"""The widget's table: one row per visitor of a widget key (the browser's signed token names it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class WidgetVisitor(Base):
    __tablename__ = "widget_visitor"
    __table_args__ = (UniqueConstraint("account_id", "external_id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("channel_account.id"))
    external_id: Mapped[str] = mapped_column(String(254))  # "v:<random>" or "u:<the shop's user id>"
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)  # once known
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str | None] = mapped_column(String(8))
    offline_contact: Mapped[str | None] = mapped_column(String(254))  # left while nobody was working
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
