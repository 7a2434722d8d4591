"""Tables of the commerce side: catalog, stock per warehouse, orders, status configuration, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from inbox.models.base import Base, BigIntPK, utcnow

DRAFT = "draft"  # the status of an order before submit; not a configurable status


class Category(Base):
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    # Id in the source system (YML category id, CommerceML Ид, CSV path): what re-imports match on.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)


product_related = Table(
    "product_related",
    Base.metadata,
    Column("product_id", BigIntPK, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
    Column("related_id", BigIntPK, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
)


class Product(Base):
    __tablename__ = "product"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sku: Mapped[str] = mapped_column(String(100), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)  # CommerceML Ид, YML offer id
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(BigInteger, default=0)  # RUB kopecks
    images: Mapped[list[Any]] = mapped_column(default=list)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # 54-ФЗ VAT rate as YooKassa's vat_code: 1 без НДС (default), 2 0%, 3 10%, 4 20%, 5 10/110, 6 20/120, ...
    vat_code: Mapped[int] = mapped_column(default=1, server_default="1")
    # casefolded "sku name": SQLite's lower()/LIKE only fold ASCII, so search matches on this instead
    search_key: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("price >= 0", name="price_nonnegative"),)

    @validates("sku", "name")
    def _keep_search_key(self, key: str, value: str) -> str:
        sku = value if key == "sku" else (self.sku or "")
        name = value if key == "name" else (self.name or "")
        self.search_key = f"{sku} {name}".casefold()
        return value


class Warehouse(Base):
    __tablename__ = "warehouse"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)  # CommerceML Склад Ид


class Stock(Base):
    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
        CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Counter(Base):
    """Named sequences shared by every process (order numbers): ``UPDATE ... RETURNING`` on one row."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class OrderStatus(Base):
    __tablename__ = "order_status"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    group: Mapped[str] = mapped_column(
        String(16)
    )  # new | approval | assembling | delivery | complete | cancel
    position: Mapped[int] = mapped_column(default=0)
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"ru": ..., "en": ...}
    transitions: Mapped[list[Any]] = mapped_column(default=list)  # codes reachable from here
    time_limit_minutes: Mapped[int | None] = mapped_column()
    auto_target: Mapped[str | None] = mapped_column(String(32))  # status to move to when the limit passes
    on_paid: Mapped[str | None] = mapped_column(String(32))  # status to move to when the order is paid
    notify_customer: Mapped[bool] = mapped_column(default=False)
    # {"ru": {"messenger": ..., "sms": ..., "email": ..., "email_subject": ...}, "en": {...}}
    templates: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Carrier(Base):
    __tablename__ = "carrier"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500))  # template with {track}
    active: Mapped[bool] = mapped_column(default=True)


class Order(Base):
    __tablename__ = "orders"  # "order" is an SQL keyword
    __table_args__ = (
        Index("ix_orders_status", "status", "status_changed_at"),
        CheckConstraint("total >= 0", name="total_nonnegative"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # assigned on submit
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("thread.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default=DRAFT)
    source: Mapped[str] = mapped_column(String(8), default="chat")  # chat | api | bot
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"), index=True)
    delivery_method: Mapped[str | None] = mapped_column(String(64))
    delivery_address: Mapped[str | None] = mapped_column(Text)
    delivery_cost: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_state: Mapped[str] = mapped_column(String(8), default="unpaid")  # unpaid | paid
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    comment: Mapped[str] = mapped_column(Text, default="")
    carrier: Mapped[str | None] = mapped_column(ForeignKey("carrier.code"))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_until: Mapped[datetime | None] = mapped_column(index=True)  # drafts only
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "product_id", "warehouse_id"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    sku: Mapped[str] = mapped_column(String(100))  # snapshots: the catalog may change later
    name: Mapped[str] = mapped_column(String(500))
    qty: Mapped[int] = mapped_column()
    unit_price: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[bool] = mapped_column(default=False)  # holds qty units of stock.reserved
    written_off: Mapped[bool] = mapped_column(default=False)


class OrderHistory(Base):
    __tablename__ = "order_history"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(16))  # manager | api | bot | system
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("manager.id"))
    action: Mapped[str] = mapped_column(String(32))  # created, status, line.add, delivery, payment, ...
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationSent(Base):
    """Keys of customer notifications already planned: the unique key makes a repeat a no-op."""

    __tablename__ = "notification_sent"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
