"""Audit of customer merges and identity splits (issue "one customer across every channel")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class MergeLog(Base):
    """One row per merge or split: who did it, when, what moved, and how conflicting fields were decided.

    merge: ``survivor_id`` kept everything, ``other_id`` became a tombstone (merged_into_id = survivor).
    split: ``survivor_id`` is the customer the identity was taken from, ``other_id`` the new customer.
    """

    __tablename__ = "merge_log"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    action: Mapped[str] = mapped_column(String(8))  # merge | split
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    survivor_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    other_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    identity_ids: Mapped[list[Any]] = mapped_column(default=list)  # identities that changed customer
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"identities": n, "messages": n, ...}
    # {field: {"survivor": value, "other": value, "chosen": "survivor" | "other"}}
    conflicts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(200))  # "manager:3", "api", "cli"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
