"""The SMS channel's connection check: the provider's account (Twilio) or balance (SMS.ru)."""

from __future__ import annotations

import httpx

from inbox.channels.checks import CheckFailed, json_body
from inbox.i18n import _
from inbox.models import ChannelAccount


async def check(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    provider = str(account.settings.get("provider") or "")
    if provider == "twilio":
        sid = str(account.secrets.get("account_sid") or "")
        token = str(account.secrets.get("auth_token") or "")
        if not sid or not token:
            raise CheckFailed(_("Twilio needs secrets.account_sid and secrets.auth_token"))
        base = str(account.settings.get("api_base") or "https://api.twilio.com").rstrip("/")
        response = await http.get(f"{base}/2010-04-01/Accounts/{sid}.json", auth=(sid, token))
        body = json_body(response)
        if response.status_code != 200:
            raise CheckFailed(f"Twilio: {body.get('message') or response.status_code}")
        return _("Twilio account {name} ({status})").format(
            name=body.get("friendly_name") or sid, status=body.get("status")
        )
    if provider == "smsru":
        api_id = str(account.secrets.get("api_id") or "")
        if not api_id:
            raise CheckFailed(_("SMS.ru needs secrets.api_id"))
        base = str(account.settings.get("api_base") or "https://sms.ru").rstrip("/")
        body = json_body(await http.get(f"{base}/my/balance", params={"api_id": api_id, "json": "1"}))
        if body.get("status") != "OK":
            raise CheckFailed(f"SMS.ru: {body.get('status_text') or body.get('status_code')}")
        return _("SMS.ru balance {balance}").format(balance=body.get("balance"))
    raise CheckFailed(_("unknown SMS provider {provider}").format(provider=repr(provider)))
