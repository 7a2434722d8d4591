"""Carts the bot, the widget or the shop's site started and the customer has not finished, for managers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from inbox.db import transaction
from inbox.models import utcnow
from inbox.sales import carts
from inbox.sales import config as sales_config
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


class CartsController(Controller):
    @get("/carts", name="carts_page")
    async def page(self, request: AnyRequest) -> Template:
        async with transaction(ctx(request).factory) as session:
            await carts.sync_bot_carts(session)
            config = await sales_config.load(session)
            items = await carts.open_carts(session)
        cutoff = utcnow() - timedelta(hours=config.cart_reminder_hours)
        return Template(
            "carts.html",
            context={"manager": manager_of(request), "items": items, "cutoff": cutoff, "config": config},
        )
