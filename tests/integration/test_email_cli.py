"""`inbox channel add email … --since 30d` as a shop's script runs it: a subprocess against a real dovecot;
the first sync fetches the window with a summary, and the letters become messages through the processor."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import InboundProcessor
from inbox.db import make_session_factory
from inbox.models import ChannelAccount, InboundEvent, Message
from inbox.settings import Settings
from tests.dovecot import Dovecot
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.test_email_flow import letter
from tests.server import cli


async def test_channel_add_email_first_sync_with_summary(
    db_url: str, engine: AsyncEngine, tmp_path: Path, dovecot: Dovecot, settings: Settings
) -> None:
    old = dovecot.deliver(letter("old@example.org", "Старое", "Письмо двухмесячной давности"))
    two_months_ago = time.time() - 60 * 86400
    os.utime(old, (two_months_ago, two_months_ago))  # maildir INTERNALDATE is the file's mtime
    for n in range(3):
        dovecot.deliver(
            letter(
                f"new{n}@example.org",
                "Re: Заказ" if n else "Заказ",
                f"Письмо {n}",
                **({"In_Reply_To": "<new0@example.org>", "References": "<new0@example.org>"} if n else {}),
            )
        )
    env = {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": settings.secret_key,  # the CLI and the processor below are one shop, one key
    }
    args = [
        "channel", "add", "email", "--name", "shop mail", "--address", "shop@romashka.ru",
        "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.port), "--smtp-host", "127.0.0.1",
        "--smtp-port", "2525", "--username", dovecot.user, "--password", dovecot.password,
        "--security", "none", "--since", "30d",
    ]  # fmt: skip
    out = cli(env, tmp_path, *args)
    assert out.returncode == 0, out.stderr
    assert "first sync: 3 letters fetched, 0 skipped, 0 errors" in out.stdout

    factory = make_session_factory(engine)
    async with factory() as session:
        assert (await session.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 3
        account = (await session.execute(select(ChannelAccount))).scalar_one()
        assert account.kind == "email" and account.state["imap"]["INBOX"]["last_uid"] == 4
    hub = ChannelHub(factory, settings)
    processor = InboundProcessor(factory, hub, EventBus(), settings)
    try:
        while await processor.process_batch():
            pass
    finally:
        await hub.close()
    async with factory() as session:
        rows = list((await session.execute(select(Message).order_by(Message.id))).scalars())
    assert sorted(m.external_id or "" for m in rows) == [f"new{n}@example.org" for n in range(3)]
    assert len({m.email_conversation for m in rows}) == 1  # one conversation: the replies name new0

    again = cli(env, tmp_path, "channel", "add", "email", *args[3:])
    assert again.returncode != 0 and "shop mail" in (again.stderr + again.stdout)  # the name is taken
