"""The public unsubscribe link of marketing messages: ``GET /u/{token}`` asks, ``POST /u/{token}``
unsubscribes (also the RFC 8058 one-click POST a mail client sends for ``List-Unsubscribe-Post``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from inbox import i18n
from inbox.core.merge import CustomerError
from inbox.db import transaction
from inbox.sales import unsubscribe
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


def _check(request: AnyRequest, token: str) -> int:
    i18n.set_locale(request.query_params.get("lang") or request.cookies.get("lang"))
    try:
        customer_id, _channel = unsubscribe.read_token(ctx(request).settings.signing_keys, token)
    except unsubscribe.BadToken:
        raise NotFoundException(i18n._("This unsubscribe link is damaged.")) from None
    return customer_id


@get("/u/{token:str}", name="unsubscribe_page")
async def unsubscribe_page(request: AnyRequest, token: FromPath[str]) -> Template:
    _check(request, token)
    return Template("unsubscribe.html", context={"token": token, "done": False})


@post("/u/{token:str}", name="unsubscribe", status_code=200)
async def unsubscribe_now(request: AnyRequest, token: FromPath[str]) -> Template:
    customer_id = _check(request, token)
    try:
        async with transaction(ctx(request).factory) as session:
            await unsubscribe.opt_out(session, customer_id)
    except (CustomerError, LookupError):
        raise NotFoundException(i18n._("This unsubscribe link is damaged.")) from None
    return Template("unsubscribe.html", context={"token": token, "done": True})
