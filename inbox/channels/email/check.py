"""The email channel's connection check: the IMAP server's greeting."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from inbox.channels.checks import TIMEOUT, CheckFailed
from inbox.i18n import _
from inbox.models import ChannelAccount


async def check(http: httpx.AsyncClient, account: ChannelAccount) -> str:
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
