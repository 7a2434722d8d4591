"""Secrets at rest and key rotation end to end on SQLite and PostgreSQL: `inbox channel add` stores channel
secrets encrypted (Fernet, key derived from INBOX_SECRET_KEY), plaintext rows from before are encrypted by
`inbox db upgrade` and at start; `inbox secret rotate` re-encrypts them under the new key, and while
INBOX_SECRET_KEY_OLD is set whatever the old key signed (CSRF tokens, Telegram webhook secrets, bot buttons)
still verifies; once it is unset, it does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from inbox.bots.payloads import Action, BadPayload, sign, verify
from inbox.channels.hub import ChannelHub
from inbox.core.secretbox import MARK, SecretBox, SecretsUnreadable
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import ChannelAccount
from inbox.settings import Settings
from tests.emulators.telegram import DEFAULT_TOKEN
from tests.server import cli, threaded_server

OLD, NEW = "old-secret-key-0123456789", "new-secret-key-9876543210"


def env(db_url: str, tmp_path: Path, key: str, old: str | None = None) -> dict[str, str]:
    out = {"INBOX_DATABASE_URL": db_url, "INBOX_DATA_DIR": str(tmp_path / "data"), "INBOX_SECRET_KEY": key}
    if old:
        out["INBOX_SECRET_KEY_OLD"] = old
    return out


async def raw_secrets(factory: SessionFactory) -> dict[int, str]:
    async with factory() as session:
        rows = (await session.execute(text("SELECT id, secrets FROM channel_account"))).all()
    return {int(r[0]): r[1] if isinstance(r[1], str) else json.dumps(r[1]) for r in rows}


async def test_channel_secrets_are_encrypted_and_plaintext_is_migrated(
    db_url: str, factory: SessionFactory, tmp_path: Path
) -> None:
    added = cli(
        env(db_url, tmp_path, OLD),
        tmp_path,
        *[
            "channel",
            "add",
            "telegram",
            "--name",
            "shop",
            "--token",
            "123:SECRET-BOT-TOKEN",
            "--mode",
            "polling",
        ],
    )
    assert added.returncode == 0, added.stderr
    async with transaction(factory) as session:  # as an older version wrote it
        session.add(
            ChannelAccount(kind="vk", name="club", settings={}, secrets={"token": "PLAIN-VK-TOKEN"}, state={})
        )
    stored = await raw_secrets(factory)
    assert any("PLAIN-VK-TOKEN" in v for v in stored.values())
    assert not any("SECRET-BOT-TOKEN" in v for v in stored.values()), stored

    upgraded = cli(env(db_url, tmp_path, OLD), tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    stored = await raw_secrets(factory)
    assert not any("PLAIN-VK-TOKEN" in v or "SECRET-BOT-TOKEN" in v for v in stored.values()), stored
    assert all(MARK in v for v in stored.values())

    hub = ChannelHub(
        factory, Settings(database_url=db_url, redis_url=None, secret_key=OLD, data_dir=tmp_path)
    )
    tokens = {cfg.name: cfg.secrets["token"] for cfg in await hub.enabled_accounts()}
    assert tokens == {"shop": "123:SECRET-BOT-TOKEN", "club": "PLAIN-VK-TOKEN"}


async def csrf_login(base: str, cookie_token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        data = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": cookie_token}
        return await client.post("/login", data=data, headers={"cookie": f"csrftoken={cookie_token}"})


async def tg_webhook(base: str, account_id: int, secret: str) -> int:
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}}
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        r = await client.post(
            f"/webhooks/telegram/{account_id}",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        )
    return r.status_code


async def test_rotation_end_to_end(
    db_url: str, factory: SessionFactory, settings: Settings, tmp_path: Path
) -> None:
    await seed(factory)
    old_settings = settings.with_(secret_key=OLD)
    box = SecretBox(OLD)
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="telegram",
            name="tg",
            settings={
                "mode": "webhook",
                "public_url": "https://shop.example",
                "api_base": "http://127.0.0.1:9",
            },
            secrets=box.seal({"token": DEFAULT_TOKEN}),
            state={},
        )
        session.add(row)
        await session.flush()
        account_id = row.id

    # Under the old key: a CSRF cookie, the derived Telegram webhook secret, a signed bot button.
    with threaded_server(old_settings, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            page = await client.get("/login")
            old_csrf = client.cookies["csrftoken"]
            assert re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    hub = ChannelHub(factory, old_settings)
    channel = await hub.get(account_id)
    assert channel is not None
    old_tg_secret = channel.webhook_secret  # type: ignore[attr-defined]
    await hub.close()
    old_button = sign(OLD, 7, Action("status"))

    # Refused without the old key: rotation needs INBOX_SECRET_KEY_OLD.
    refused = cli(env(db_url, tmp_path, NEW), tmp_path, "secret", "rotate")
    assert refused.returncode != 0 and "INBOX_SECRET_KEY_OLD" in refused.stderr
    rotated = cli(env(db_url, tmp_path, NEW, OLD), tmp_path, "secret", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    async with factory() as session:
        stored = (await session.get(ChannelAccount, account_id)).secrets  # type: ignore[union-attr]
    assert SecretBox(NEW).open(stored) == {"token": DEFAULT_TOKEN}
    with pytest.raises(SecretsUnreadable):
        SecretBox(OLD).open(stored)

    during = settings.with_(secret_key=NEW, secret_key_old=OLD)
    with threaded_server(during, run_workers=False) as base:
        assert (await csrf_login(base, old_csrf)).status_code == 302
        assert await tg_webhook(base, account_id, old_tg_secret) == 200
    assert verify(during.signing_keys, 7, old_button) == Action("status")
    assert sign(NEW, 7, Action("status")) == sign(during.signing_keys[0], 7, Action("status"))

    after = settings.with_(secret_key=NEW)
    with threaded_server(after, run_workers=False) as base:
        assert (await csrf_login(base, old_csrf)).status_code == 403
        assert await tg_webhook(base, account_id, old_tg_secret) == 401
    with pytest.raises(BadPayload):
        verify(after.signing_keys, 7, old_button)
