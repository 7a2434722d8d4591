"""Telegram's connection check: ``getMe`` on the Bot API."""

from __future__ import annotations

import httpx

from inbox.channels.checks import CheckFailed, json_body
from inbox.models import ChannelAccount


async def check(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed("no bot token (secrets.token)")
    base = str(account.settings.get("api_base") or "https://api.telegram.org").rstrip("/")
    body = json_body(await http.post(f"{base}/bot{token}/getMe"))
    if not body.get("ok"):
        raise CheckFailed(f"Telegram: {body.get('description') or 'refused'}")
    bot = body.get("result") or {}
    return f"Telegram bot @{bot.get('username')} ({bot.get('first_name', '')})"
