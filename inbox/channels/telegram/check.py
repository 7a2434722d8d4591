"""Telegram's connection check: ``getMe`` on the Bot API."""

from __future__ import annotations

import httpx

from inbox.channels.checks import CheckFailed, json_body
from inbox.i18n import _
from inbox.models import ChannelAccount


async def check(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed(_("no bot token (secrets.token)"))
    base = str(account.settings.get("api_base") or "https://api.telegram.org").rstrip("/")
    body = json_body(await http.post(f"{base}/bot{token}/getMe"))
    if not body.get("ok"):
        raise CheckFailed("Telegram: " + str(body.get("description") or _("refused")))
    bot = body.get("result") or {}
    return _("Telegram bot @{username} ({name})").format(
        username=bot.get("username"), name=bot.get("first_name", "")
    )
