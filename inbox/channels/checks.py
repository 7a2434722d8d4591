""" "Test connection" for a channel account: one lightweight, read-only provider call over httpx.

Telegram ``getMe``, VK ``groups.getById``, Twilio account fetch, SMS.ru ``my/balance``, email: the IMAP
server's greeting. Returns a short human description of what answered; raises CheckFailed with the reason.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx

from inbox.models import ChannelAccount
from inbox.settings import Settings

TIMEOUT = 10.0


class CheckFailed(Exception):
    pass


async def check_connection(
    account: ChannelAccount, settings: Settings, *, client: httpx.AsyncClient | None = None
) -> str:
    if account.settings.get("demo"):
        return "demo channel: nothing to check"
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
        raise CheckFailed(f"no check for channel kind {account.kind!r}")
    except httpx.HTTPError as exc:
        raise CheckFailed(f"cannot reach the provider: {exc.__class__.__name__}: {exc}") from exc
    finally:
        if own:
            await http.aclose()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise CheckFailed(f"the provider answered HTTP {response.status_code} without JSON") from exc


async def _telegram(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed("no bot token (secrets.token)")
    base = str(account.settings.get("api_base") or "https://api.telegram.org").rstrip("/")
    body = _json(await http.post(f"{base}/bot{token}/getMe"))
    if not body.get("ok"):
        raise CheckFailed(f"Telegram: {body.get('description') or 'refused'}")
    bot = body.get("result") or {}
    return f"Telegram bot @{bot.get('username')} ({bot.get('first_name', '')})"


async def _vk(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    token = str(account.secrets.get("token") or "")
    if not token:
        raise CheckFailed("no community token (secrets.token)")
    base = str(account.settings.get("api_base") or "https://api.vk.com").rstrip("/")
    url = base + ("/" if base.endswith("/method") else "/method/") + "groups.getById"
    version = str(account.settings.get("api_version") or "5.199")
    params: dict[str, str] = {"access_token": token, "v": version}
    if account.settings.get("group_id"):
        params["group_id"] = str(account.settings["group_id"])
    body = _json(await http.post(url, data=params))
    if "error" in body:
        err = body["error"]
        raise CheckFailed(f"VK error {err.get('error_code')}: {err.get('error_msg')}")
    response = body.get("response")
    groups = response.get("groups") if isinstance(response, dict) else response
    if not groups:
        raise CheckFailed("VK answered without a community")
    group = groups[0]
    return f"VK community {group.get('name')} (id {group.get('id')})"


async def _sms(http: httpx.AsyncClient, account: ChannelAccount) -> str:
    provider = str(account.settings.get("provider") or "")
    if provider == "twilio":
        sid = str(account.secrets.get("account_sid") or "")
        token = str(account.secrets.get("auth_token") or "")
        if not sid or not token:
            raise CheckFailed("Twilio needs secrets.account_sid and secrets.auth_token")
        base = str(account.settings.get("api_base") or "https://api.twilio.com").rstrip("/")
        response = await http.get(f"{base}/2010-04-01/Accounts/{sid}.json", auth=(sid, token))
        body = _json(response)
        if response.status_code != 200:
            raise CheckFailed(f"Twilio: {body.get('message') or response.status_code}")
        return f"Twilio account {body.get('friendly_name') or sid} ({body.get('status')})"
    if provider == "smsru":
        api_id = str(account.secrets.get("api_id") or "")
        if not api_id:
            raise CheckFailed("SMS.ru needs secrets.api_id")
        base = str(account.settings.get("api_base") or "https://sms.ru").rstrip("/")
        body = _json(await http.get(f"{base}/my/balance", params={"api_id": api_id, "json": "1"}))
        if body.get("status") != "OK":
            raise CheckFailed(f"SMS.ru: {body.get('status_text') or body.get('status_code')}")
        return f"SMS.ru balance {body.get('balance')}"
    raise CheckFailed(f"unknown SMS provider {provider!r}")


async def _email(account: ChannelAccount) -> str:
    host = str(account.settings.get("imap_host") or "")
    if not host:
        raise CheckFailed("no imap_host")
    security = str(account.settings.get("imap_security") or "ssl")
    port = int(account.settings.get("imap_port") or (993 if security == "ssl" else 143))
    context = ssl.create_default_context() if security == "ssl" else None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise CheckFailed(f"cannot connect to {host}:{port}: {exc}") from exc
    try:
        greeting = (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode(errors="replace").strip()
    except TimeoutError as exc:
        raise CheckFailed(f"{host}:{port} did not greet") from exc
    finally:
        writer.close()
    if not greeting.startswith("* OK"):
        raise CheckFailed(f"{host}:{port} is not an IMAP server: {greeting[:80]!r}")
    return f"IMAP {host}:{port}: {greeting[:80]}"
