"""Tables of the bot engine: conversation state per customer, shop-editable FAQ entries and bot settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, JSONType, utcnow


class BotState(Base):
    """One row per customer. ``version`` makes every update a compare-and-set, so two processes handling
    the same customer never both win (the loser's transaction is retried from the top)."""

    __tablename__ = "bot_state"
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    version: Mapped[int] = mapped_column(default=0)
    step: Mapped[str] = mapped_column(String(32), default="")  # "" or a checkout step awaiting input
    # cart (draft order id), checkout answers, last menu [[action, arg], ...], misunderstood count
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Handed off to managers: the bot stays silent until a manager hands the thread back or it is closed.
    handoff: Mapped[bool] = mapped_column(default=False, index=True)
    handoff_at: Mapped[datetime | None] = mapped_column()
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    # Rate limit: replies sent in the current one-minute window.
    window_start: Mapped[datetime | None] = mapped_column()
    window_replies: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class BotFaq(Base):
    """A shop-editable answer: when a customer's text matches ``pattern`` (a case-insensitive regular
    expression), the bot answers ``answer`` in that locale."""

    __tablename__ = "bot_faq"
    __table_args__ = (Index("ix_bot_faq_locale", "locale", "position"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class BotSetting(Base):
    """Shop-wide bot settings by key: ``greeting`` {locale: text}, ``hours`` {timezone, week},
    ``delivery`` [methods], ``limits`` {replies_per_minute, ...}, ``enabled``."""

    __tablename__ = "bot_setting"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
