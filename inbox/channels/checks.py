""" "Test connection" for a channel account: one lightweight, read-only provider call over httpx.

Telegram ``getMe``, VK ``groups.getById``, Twilio account fetch, SMS.ru ``my/balance``, email: the IMAP
server's greeting. Returns a short human description of what answered; raises CheckFailed with the reason.
"""

from __future__ import annotations

import asyncio
import ssl
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
    own = client is None
    http = client or httpx.AsyncClient(timeout=TIMEOUT)
    try:
        if account.kind == "telegram":
            return await _telegram(http, account)
        if account.kind == "vk":
            return await _vk(http, account)
        if account.kind == "sms":
            return await _sms(http, account)
        if account.kind == "email":
            return await _email(account)
        raise CheckFailed(_("no check for channel kind {kind}").format(kind=account.kind))
    except httpx.HTTPError as exc:
        raise CheckFailed(
            _("cannot reach the provider: {error}").format(error=f"{exc.__class__.__name__}: {exc}")
        ) from exc
    finally:
        if own:
            await http.aclose()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise CheckFailed(
            _("the provider answered HTTP {status} without JSON").format(status=response.status_code)
        ) from exc


async def _telegram(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed(_("no bot token (secrets.token)"))
    base = str(account.settings.get("api_base") or "https://api.telegram.org").rstrip("/")
    body = _json(await http.post(f"{base}/bot{token}/getMe"))
    if not body.get("ok"):
        raise CheckFailed("Telegram: " + str(body.get("description") or _("refused")))
    bot = body.get("result") or {}
    return _("Telegram bot @{username} ({name})").format(
        username=bot.get("username"), name=bot.get("first_name", "")
    )


async def _vk(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed(_("no community token (secrets.token)"))
    base = str(account.settings.get("api_base") or "https://api.vk.com").rstrip("/")
    url = base + ("/" if base.endswith("/method") else "/method/") + "groups.getById"
    version = str(account.settings.get("api_version") or "5.199")
    params: dict[str, str] = {"access_token": token, "v": version}
    if account.settings.get("group_id"):
        params["group_id"] = str(account.settings["group_id"])
    body = _json(await http.post(url, data=params))
    if "error" in body:
        err = body["error"]
        raise CheckFailed(
            _("VK error {code}: {text}").format(code=err.get("error_code"), text=err.get("error_msg"))
        )
    response = body.get("response")
    groups = response.get("groups") if isinstance(response, dict) else response
    if not groups:
        raise CheckFailed(_("VK answered without a community"))
    group = groups[0]
    return _("VK community {name} (id {id})").format(name=group.get("name"), id=group.get("id"))


async def _sms(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    provider = str(account.settings.get("provider") or "")
    if provider == "twilio":
        sid = str(account.secrets.get("account_sid") or "")
        token = str(account.secrets.get("auth_token") or "")
        if not sid or not token:
            raise CheckFailed(_("Twilio needs secrets.account_sid and secrets.auth_token"))
        base = str(account.settings.get("api_base") or "https://api.twilio.com").rstrip("/")
        response = await http.get(f"{base}/2010-04-01/Accounts/{sid}.json", auth=(sid, token))
        body = _json(response)
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
        body = _json(await http.get(f"{base}/my/balance", params={"api_id": api_id, "json": "1"}))
        if body.get("status") != "OK":
            raise CheckFailed(f"SMS.ru: {body.get('status_text') or body.get('status_code')}")
        return _("SMS.ru balance {balance}").format(balance=body.get("balance"))
    raise CheckFailed(_("unknown SMS provider {provider}").format(provider=repr(provider)))


async def _email(account: ChannelAccount) -> str:
    host = str(account.settings.get("imap_host") or "")
    if not host:
        raise CheckFailed(_("no imap_host"))
    security = str(account.settings.get("imap_security") or "ssl")
    port = int(account.settings.get("imap_port") or (993 if security == "ssl" else 143))
    context = ssl.create_default_context() if security == "ssl" else None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise CheckFailed(
            _("cannot connect to {host}:{port}: {error}").format(host=host, port=port, error=exc)
        ) from exc
    try:
        greeting = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode(errors="replace").strip()
    except TimeoutError as exc:
        raise CheckFailed(_("{host}:{port} did not greet").format(host=host, port=port)) from exc
    finally:
        writer.close()
    if not greeting.startswith("* OK"):
        raise CheckFailed(
            _("{host}:{port} is not an IMAP server: {greeting}").format(
                host=host, port=port, greeting=repr(greeting[:80])
            )
        )
    return f"IMAP {host}:{port}: {greeting[:80]}"
