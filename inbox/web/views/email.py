"""Letters in the thread view: the sanitised HTML version (sandboxed), and linking a letter to an order."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox import i18n
from inbox.channels.email.links import OrderLinkError, customer_orders, set_order_link
from inbox.channels.email.reply import email_reply_meta
from inbox.models import ChannelAccount, Message
from inbox.orders.statuses import load_statuses, status_name
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]

# The letter's HTML runs in an opaque origin with no scripts, forms, plugins or network access (remote
# images would tell the sender that the letter was read); inline styles and data: images only.
HTML_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)
HTML_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8">'
    '<meta name="referrer" content="no-referrer">'
    "<style>body{font:14px/1.4 sans-serif;margin:8px;color:#222;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}</style></head><body>{body}</body></html>"
)


async def reply_meta(
    session: AsyncSession, thread_id: int, channel: str | None, reply_to: object
) -> dict[str, Any]:
    """Meta for the reply form's draft: email threading when answering by email or a chosen letter."""
    letter_id: int | None = None
    if reply_to not in (None, ""):
        try:
            letter_id = int(str(reply_to))
        except ValueError as exc:
            raise ClientException(i18n._("Bad letter reference.")) from exc
    if channel != "email" and letter_id is None:
        return {}
    try:
        return await email_reply_meta(session, thread_id, reply_to=letter_id)
    except LookupError as exc:
        raise ClientException(i18n._("This letter is not part of the conversation.")) from exc


class EmailController(Controller):
    """Signed-in managers only (mounted next to InboxController)."""

    @get("/messages/{message_id:int}/email.html", name="email_html")
    async def email_html(self, request: AnyRequest, message_id: FromPath[int]) -> Response[str]:
        async with ctx(request).factory() as session:
            message = await session.get(Message, message_id)
        if message is None or not message.html:
            raise NotFoundException(i18n._("This letter has no HTML version."))
        return Response(
            content=HTML_PAGE.replace("{body}", message.html),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": HTML_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "private, max-age=300",
            },
        )

    @get("/messages/{message_id:int}/order", name="order_link_form")
    async def order_link_form(self, request: AnyRequest, message_id: FromPath[int]) -> Template:
        async with ctx(request).factory() as session:
            message = await session.get(Message, message_id)
            if message is None:
                raise NotFoundException(i18n._("No such message."))
            orders = await customer_orders(session, message.customer_id)
            statuses = await load_statuses(session)
        names = {code: status_name(s, i18n.current()) for code, s in statuses.items()}
        template = "_order_link.html" if request.headers.get("hx-request") else "order_link.html"
        return Template(
            template,
            context={"m": message, "orders": orders, "manager": manager_of(request), "status_names": names},
        )

    @post("/messages/{message_id:int}/order", name="order_link")
    async def order_link(
        self,
        request: AnyRequest,
        message_id: FromPath[int],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        app = ctx(request)
        raw = (data.get("order_id") or "").strip()
        try:
            order_id = int(raw) if raw else None
        except ValueError as exc:
            raise ClientException(i18n._("Choose an order from the list.")) from exc
        try:
            async with app.bus.transaction(app.factory) as session:
                events = await set_order_link(session, message_id, order_id, manager_of(request).id)
        except LookupError as exc:
            raise NotFoundException(i18n._("No such message.")) from exc
        except OrderLinkError as exc:
            raise ClientException(exc.reason, status_code=409) from exc
        if not request.headers.get("hx-request"):
            return Redirect(path=f"/threads/{events[0].thread_id}#msg-{message_id}")
        async with app.factory() as session:
            message = (
                await session.execute(
                    select(Message).where(Message.id == message_id).options(selectinload(Message.attachments))
                )
            ).scalar_one()
            accounts = {a.id: a for a in (await session.execute(select(ChannelAccount))).scalars()}
        return Template("_messages.html", context={"messages": [message], "accounts": accounts})
