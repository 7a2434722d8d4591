"""'Test connection' for a widget key: nothing remote to call; the settings must parse and name origins."""

from __future__ import annotations

import httpx

from inbox.channels.checks import CheckFailed
from inbox.channels.widget.config import BadConfig, parse_config
from inbox.models import ChannelAccount


async def check(client: httpx.AsyncClient, account: ChannelAccount) -> str:
    try:
        cfg = parse_config(account.settings)
    except BadConfig as exc:
        raise CheckFailed(str(exc)) from exc
    if not cfg.origins:
        raise CheckFailed("no allowed origins: the widget answers no site")
    return "widget for " + ", ".join(cfg.origins)
