"""The payment link sent in the conversation, in the customer's language, shaped for the channel: a button in
Telegram/VK (and the widget), the bare link by SMS, a button in the email. The outbox delivers it like any
message (retries, fallback to the next channel with the text for that channel kind in ``meta["texts"]``)."""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import live_customer, pick_identity
from inbox.core.kinds import capabilities
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.types import Button
from inbox.models import Author, Message, Order, Thread
from inbox.orders.conversation import Effects
from inbox.orders.notify import channel_kind, format_rub
from inbox.orders.payments.service import PaymentLink


def link_texts(order: Order, link: PaymentLink, locale: str | None) -> dict[str, str]:
    """Text per channel kind (messenger | sms | email) and the email subject and button label."""
    amount = format_rub(link.amount)
    with i18n.use_locale(locale):
        return {
            "messenger": i18n._("Order №%(n)s: %(a)s to pay. Tap the button to pay online.")
            % {"n": order.number, "a": amount},
            "sms": i18n._("Order №%(n)s: pay %(a)s at %(url)s")
            % {"n": order.number, "a": amount, "url": link.url},
            "email": i18n._("Order №%(n)s: %(a)s to pay. Pay online: %(url)s")
            % {"n": order.number, "a": amount, "url": link.url},
            "email_subject": i18n._("Payment for order №%(n)s") % {"n": order.number},
            "button": i18n._("Pay %(a)s") % {"a": amount},
        }


def _email_html(text: str, url: str, label: str) -> str:
    first = html.escape(text.split(":", 1)[0])
    href = html.escape(url, quote=True)
    return (
        f'<p>{first}.</p><p><a href="{href}" style="display:inline-block;padding:10px 18px;'
        f'background:#2b6cb0;color:#fff;border-radius:6px;text-decoration:none">{html.escape(label)}</a></p>'
    )


async def send_payment_link(
    session: AsyncSession,
    fx: Effects,
    order: Order,
    link: PaymentLink,
    *,
    author: Author = Author.MANAGER,
    manager_id: int | None = None,
) -> Message:
    """Queue the link in the order's thread on the customer's preferred usable channel; NoChannel when
    there is none."""
    if order.thread_id is None:
        raise NoChannel("the order has no conversation")
    thread = await session.get(Thread, order.thread_id)
    if thread is None:  # pragma: no cover - FK guarantees it
        raise NoChannel("the order has no conversation")
    customer = await live_customer(session, order.customer_id)
    ident = await pick_identity(session, customer, thread)
    if ident is None:
        raise NoChannel("the customer has no channel we can answer on")
    texts = link_texts(order, link, customer.locale or fx.settings.default_locale)
    kind = channel_kind(ident.kind)
    buttons = ((Button(label=texts["button"], url=link.url),),) if kind == "messenger" else ()
    draft = Draft(
        text=texts[kind],
        author=author,
        manager_id=manager_id,
        channel=ident.kind,
        buttons=buttons,
        meta={
            "payment_link": link.url,
            "payment_id": link.payment_id,
            "subject": texts["email_subject"],
            "email_html": _email_html(texts["email"], link.url, texts["button"]),
            "texts": {k: texts[k] for k in ("messenger", "sms", "email")},
        },
        order_id=order.id,
    )
    message = await enqueue(session, thread, draft)
    if capabilities(ident.kind).html:  # a letter: its HTML part has the button
        message.html = _email_html(texts["email"], link.url, texts["button"])
    fx.queued = True
    return message
