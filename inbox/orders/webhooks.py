"""Outgoing shop webhooks on order changes: the payload and its HMAC-SHA256 signature.

The receiver recomputes ``hmac_sha256(secret, raw_body)`` and compares it with the ``X-Inbox-Signature``
header (``sha256=<hex>``) in constant time. ``X-Inbox-Event`` names the event, ``X-Inbox-Delivery`` is an
idempotency key the receiver may use to drop repeats (the outbox retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Order
from inbox.orders.service import order_lines

SIGNATURE_HEADER = "X-Inbox-Signature"
EVENT_HEADER = "X-Inbox-Event"
DELIVERY_HEADER = "X-Inbox-Delivery"
EVENTS = ("order.created", "order.updated", "order.status", "order.tracking")


def sign(secret: str | bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw request body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str) -> bool:
    """Check an ``X-Inbox-Signature`` header value (``sha256=<hex>`` or bare hex)."""
    given = header.removeprefix("sha256=").strip().lower()
    return hmac.compare_digest(given, sign(secret, body))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def order_payload(session: AsyncSession, order: Order, event: str) -> dict[str, Any]:
    """The JSON document a shop receives for ``event`` (one of EVENTS). Money in kopecks."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    lines = await order_lines(session, order.id)
    return {
        "event": event,
        "order": {
            "id": order.id,
            "number": order.number,
            "status": order.status,
            "source": order.source,
            "customer_id": order.customer_id,
            "thread_id": order.thread_id,
            "currency": "RUB",
            "subtotal": order.subtotal,
            "delivery": {
                "method": order.delivery_method,
                "address": order.delivery_address,
                "cost": order.delivery_cost,
            },
            "total": order.total,
            "payment": {"state": order.payment_state, "amount": order.paid_amount},
            "comment": order.comment,
            "tracking": {
                "carrier": order.carrier,
                "number": order.tracking_number,
                "url": order.tracking_url,
            },
            "lines": [
                {"sku": ln.sku, "name": ln.name, "qty": ln.qty, "unit_price": ln.unit_price} for ln in lines
            ],
            "created_at": _iso(order.created_at),
            "updated_at": _iso(order.updated_at),
            "status_changed_at": _iso(order.status_changed_at),
        },
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes to send (and sign): compact UTF-8 JSON with sorted keys."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signed_request(secret: str, payload: dict[str, Any], delivery_id: str) -> tuple[bytes, dict[str, str]]:
    """Body and headers for one webhook delivery."""
    body = encode(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: f"sha256={sign(secret, body)}",
        EVENT_HEADER: str(payload["event"]),
        DELIVERY_HEADER: delivery_id,
    }
    return body, headers
