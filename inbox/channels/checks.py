""" "Test connection" for a channel account: one lightweight, read-only provider call over httpx.

Each kind's check lives in its package (``channels/<kind>/check.py``) and is named by its ChannelSpec:
Telegram ``getMe``, VK ``groups.getById``, Twilio account fetch, SMS.ru ``my/balance``, email: the IMAP
server's greeting. Returns a short human description of what answered; raises CheckFailed with the reason.
"""

from __future__ import annotations

from typing import Any

import httpx

from inbox.i18n import _
from inbox.models import ChannelAccount
from inbox.settings import Settings

TIMEOUT = 10.0


class CheckFailed(Exception):
    pass


async def check_connection(
    account: ChannelAccount, settings: Settings, *, client: httpx.AsyncClient | None = None
) -> str:
    if account.settings.get("demo"):
        return _("demo channel: nothing to check")
    from inbox.channels.registry import SPECS  # the kinds' checks import this module

    spec = SPECS.get(account.kind)
    if spec is None or spec.check is None:
        raise CheckFailed(_("no check for channel kind {kind}").format(kind=account.kind))
    from inbox.core.secretbox import SecretBox, SecretsUnreadable

    try:  # the kinds' checks read plain secrets; the row holds them sealed
        secrets = SecretBox(settings.secret_key, settings.secret_key_old).open(account.secrets)
    except SecretsUnreadable as exc:
        raise CheckFailed(str(exc)) from exc
    opened = ChannelAccount(
        id=account.id, kind=account.kind, name=account.name, settings=dict(account.settings), secrets=secrets
    )
    own = client is None
    http = client or httpx.AsyncClient(timeout=TIMEOUT)
    try:
        return await spec.check(http, opened)
    except httpx.HTTPError as exc:
        raise CheckFailed(
            _("cannot reach the provider: {error}").format(error=f"{exc.__class__.__name__}: {exc}")
        ) from exc
    finally:
        if own:
            await http.aclose()


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise CheckFailed(
            _("the provider answered HTTP {status} without JSON").format(status=response.status_code)
        ) from exc
