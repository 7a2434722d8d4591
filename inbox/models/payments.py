"""Tables of payments and delivery: provider accounts, payments and refunds of an order, carrier accounts,
shipments with their tracking events, and the editable map of carrier statuses to the shop's status groups.

Every table here hangs off ``orders`` (or an account), never off ``customer`` directly, so customer merge
carries them with the order and needs no policy of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inbox.models.base import Base, BigIntPK, utcnow


class PaymentAccount(Base):
    """A payment provider account: YooKassa shop (shop id + secret key) or Telegram Payments."""

    __tablename__ = "payment_account"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # yookassa | telegram
    name: Mapped[str] = mapped_column(String(100), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # api_base, shop_id, return_url
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)  # secret_key
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """One attempt to pay (part of) an order through a provider; ``status`` only ever moves forward."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded >= 0", name="refunded_nonnegative"),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("payment_account.id"))
    provider: Mapped[str] = mapped_column(String(16))  # yookassa | telegram | manual
    external_id: Mapped[str | None] = mapped_column(String(100))  # provider's payment id
    idempotence_key: Mapped[str] = mapped_column(String(64), unique=True)
    # new (not yet known to the provider) | pending | waiting_for_capture | succeeded | canceled
    status: Mapped[str] = mapped_column(String(24), default="new")
    amount: Mapped[int] = mapped_column(BigInteger)  # kopecks
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    method: Mapped[str | None] = mapped_column(String(200))  # "bank_card: Bank card *4444"
    confirmation_url: Mapped[str | None] = mapped_column(String(2000))
    cancel_reason: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the provider's last answer
    paid_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Refund(Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | canceled
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CarrierAccount(Base):
    """A carrier API account: СДЭК (client credentials), Почта России (login/password), Boxberry (token)."""

    __tablename__ = "carrier_account"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # cdek | russianpost | boxberry
    name: Mapped[str] = mapped_column(String(100), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # cached OAuth token, poll position
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Shipment(Base):
    """A parcel of an order with a carrier: registered through the API or typed in by a manager."""

    __tablename__ = "shipment"
    __table_args__ = (UniqueConstraint("account_id", "track"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("carrier_account.id"))
    track: Mapped[str] = mapped_column(String(100))  # carrier's number / barcode
    external_id: Mapped[str | None] = mapped_column(String(100))  # СДЭК order uuid
    label_path: Mapped[str | None] = mapped_column(String(500))  # label PDF under the data dir
    last_status: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)  # still polled / listened to
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    poll_failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackingEvent(Base):
    __tablename__ = "tracking_event"
    __table_args__ = (UniqueConstraint("shipment_id", "code", "happened_at"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))  # the carrier's status code
    name: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str | None] = mapped_column(String(200))
    happened_at: Mapped[datetime] = mapped_column()
    step: Mapped[str | None] = mapped_column(String(32))  # handed_over | at_pickup | delivered | ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CarrierStatusMap(Base):
    """Carrier status code → the shop's status group and customer step; editable by an admin."""

    __tablename__ = "carrier_status_map"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    group: Mapped[str | None] = mapped_column(String(16))  # the status group the order moves into
    status: Mapped[str | None] = mapped_column(String(32))  # or an exact status code
    step: Mapped[str | None] = mapped_column(String(32))
    notify: Mapped[bool] = mapped_column(default=False)
