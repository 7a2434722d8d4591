"""Customer notifications on status changes: which text, in which language, for which kind of channel.

``plan_notification`` renders the status template for the customer's locale and channel kind and records
the idempotency key ``order:{id}:status:{code}:{n}`` (n = how many times the order has entered that status)
in ``notification_sent`` (unique). A second call for the same entry returns None, so setting the same
status twice, or retrying the caller, sends once. The outbox delivers what this returns.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.kinds import capabilities
from inbox.models import Customer, NotificationSent, Order, OrderStatus, Thread
from inbox.orders.service import count_status_entries
from inbox.orders.sql import insert_ignore
from inbox.orders.statuses import load_statuses, status_name

_PLACEHOLDER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")
TRACK_LABEL = {"ru": "Отследить", "en": "Track"}


def format_rub(kopecks: int) -> str:
    """1990_00 → "1 990 ₽"; 1990_50 → "1 990,50 ₽" (non-breaking spaces, Russian style)."""
    sign = "-" if kopecks < 0 else ""
    rub, kop = divmod(abs(kopecks), 100)
    whole = f"{rub:,}".replace(",", "\u00a0")
    return f"{sign}{whole}{f',{kop:02d}' if kop else ''}\u00a0₽"


def render(template: str, values: dict[str, str]) -> str:
    """Replace {order.number}-style placeholders from a flat dict; no attribute access, no format specs."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def channel_kind(channel: str | None) -> str:
    """The order-notice template a channel kind gets (its ``notice_text`` capability): telegram/vk →
    messenger, sms → sms, email → email; unknown → messenger."""
    return capabilities(channel).notice_text if channel else "messenger"


def _locale(customer: Customer, default: str) -> str:
    return (customer.locale or default).split("-")[0].split("_")[0].lower() or default


def _pick(templates: dict[str, Any], locale: str, default: str) -> tuple[str, dict[str, str]]:
    for loc in (locale, default, "ru", "en", *templates):
        if loc in templates:
            return loc, templates[loc]
    return default, {}


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    url: str


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    order_id: int
    customer_id: int
    thread_id: int | None
    status: str
    locale: str
    channel_kind: str  # messenger | sms | email: the kind ``text`` was rendered for
    text: str
    texts: dict[str, str]  # every channel kind, for falling back to another channel
    idempotency_key: str
    buttons: tuple[Button, ...] = ()
    email_subject: str = ""
    email_html: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _values(order: Order, customer: Customer, status: OrderStatus, locale: str) -> dict[str, str]:
    return {
        "order.number": str(order.number or order.id),
        "order.total": format_rub(order.total),
        "order.tracking_url": order.tracking_url or "",
        "order.status": status_name(status, locale),
        "customer.name": customer.name or ("клиент" if locale == "ru" else "customer"),
    }


def _email_html(text: str, tracking_url: str | None, label: str) -> str:
    body = "<br>".join(html.escape(line) for line in text.splitlines())
    if tracking_url:
        url = html.escape(tracking_url, quote=True)
        body += f'<p><a href="{url}">{html.escape(label)}</a></p>'
    return f"<p>{body}</p>"


async def plan_notification(
    session: AsyncSession, order: Order, status: OrderStatus | str, *, default_locale: str = "ru"
) -> NotificationRequest | None:
    """The customer message for ``order`` having entered ``status``, or None when the status does not
    notify or this entry into the status was already planned. Call it in the transaction of the change."""
    if isinstance(status, str):
        found = (await load_statuses(session)).get(status)
        if found is None:
            return None
        status = found
    if not status.notify_customer or not status.templates or order.number is None:
        return None
    customer = await session.get(Customer, order.customer_id)
    if customer is None:  # pragma: no cover - FK guarantees it
        return None
    n = await count_status_entries(session, order.id, status.code)
    key = f"order:{order.id}:status:{status.code}:{n}"
    stmt = insert_ignore(session, NotificationSent, {"key": key, "order_id": order.id})
    if (await session.execute(stmt.returning(NotificationSent.id))).first() is None:
        return None  # already planned: the same status entry notifies once
    channel = customer.preferred_channel
    if channel is None and order.thread_id is not None:
        thread = await session.get(Thread, order.thread_id)
        channel = thread.last_inbound_channel if thread else None
    kind = channel_kind(channel)
    locale, templates = _pick(status.templates, _locale(customer, default_locale), default_locale)
    values = _values(order, customer, status, locale)
    fallback = next((t for t in templates.values() if t), "")
    texts = {
        k: render(templates.get(k) or templates.get("messenger") or fallback, values)
        for k in ("messenger", "sms", "email")
    }
    label = TRACK_LABEL.get(locale, TRACK_LABEL["en"])
    buttons = (Button(label, order.tracking_url),) if order.tracking_url and kind == "messenger" else ()
    subject = render(templates.get("email_subject") or status_name(status, locale), values)
    return NotificationRequest(
        order_id=order.id,
        customer_id=order.customer_id,
        thread_id=order.thread_id,
        status=status.code,
        locale=locale,
        channel_kind=kind,
        text=texts[kind],
        texts=texts,
        idempotency_key=key,
        buttons=buttons,
        email_subject=subject,
        email_html=_email_html(texts["email"], order.tracking_url, label),
        data={"order_number": order.number, "tracking_url": order.tracking_url},
    )
