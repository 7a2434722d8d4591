"""The admin channel pages over real HTTP (uvicorn) on SQLite and PostgreSQL: forms generated from each
kind's config schema add, edit, disable and test channel accounts; secrets are sealed and never shown back;
every change is in the audit log; Russian and English."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select

from inbox.channels.registry import SPECS
from inbox.core.secretbox import MARK, SecretBox
from inbox.core.security import hash_password
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import AuditLog, ChannelAccount, Manager
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator
from tests.server import threaded_server

EN_EMAIL, EN_PASSWORD = "john@shop.example", "john-password"
TOKEN = "123456:SECRET-token_value"


@pytest.fixture
async def shop(factory: SessionFactory) -> SessionFactory:
    await seed(factory)
    async with transaction(factory) as session:
        session.add(
            Manager(
                email=EN_EMAIL,
                name="John",
                password_hash=hash_password(EN_PASSWORD),
                role="admin",
                locale="en",
            )
        )
    return factory


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings) as url:
        yield url


@pytest.fixture
async def telegram() -> AsyncIterator[str]:
    emulator = TelegramEmulator()
    url = await emulator.start()
    try:
        yield url
    finally:
        await emulator.stop()


async def signed_in(base: str, email: str, password: str) -> httpx.AsyncClient:
    """An async client: the emulators run on the test's event loop, which must keep turning."""
    client = httpx.AsyncClient(base_url=base, timeout=10, follow_redirects=False)
    page = await client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    r = await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token.group(1)}
    )
    assert r.status_code == 302, r.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or token.group(1)
    return client


async def audit_actions(factory: SessionFactory) -> list[tuple[str, str, dict[str, object]]]:
    async with factory() as session:
        rows = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
        return [(r.action, r.target, dict(r.details)) for r in rows]


async def account_named(factory: SessionFactory, name: str) -> ChannelAccount:
    async with factory() as session:
        row = (await session.execute(select(ChannelAccount).where(ChannelAccount.name == name))).scalar_one()
        return row


async def test_add_edit_disable_and_check_a_telegram_bot(
    base: str, shop: SessionFactory, settings: Settings, telegram: str
) -> None:
    admin = await signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)  # Russian
    listing = await admin.get("/admin/channels")
    assert listing.status_code == 200
    for kind in SPECS:
        assert f'href="/admin/channels/new/{kind}"' in listing.text
    form = await admin.get("/admin/channels/new/telegram")
    assert form.status_code == 200
    assert "Токен бота" in form.text and 'type="password"' in form.text  # the schema's label, translated
    assert "<script>" not in form.text and " onclick=" not in form.text  # CSP script-src 'self'
    assert "script-src 'self'" in form.headers["content-security-policy"]

    bad = await admin.post("/admin/channels/new/telegram", data={"name": "shop bot", "token": "nonsense"})
    assert bad.status_code == 400
    assert "«Токен бота» не похож на токен бота Telegram" in bad.text
    assert "nonsense" not in bad.text  # a typed secret is not sent back either
    no_url = await admin.post(
        "/admin/channels/new/telegram", data={"name": "shop bot", "token": TOKEN, "mode": "webhook"}
    )
    assert no_url.status_code == 400 and "«Публичный адрес»" in no_url.text
    async with shop() as session:
        assert (
            await session.execute(select(ChannelAccount).where(ChannelAccount.name == "shop bot"))
        ).first() is None

    added = await admin.post(
        "/admin/channels/new/telegram",
        data={"name": "shop bot", "token": TOKEN, "mode": "polling", "api_base": telegram + "/"},
    )
    assert added.status_code == 200, added.text
    assert "shop bot" in added.text and "polling" in added.text
    row = await account_named(shop, "shop bot")
    assert set(row.secrets) == {MARK} and TOKEN not in str(row.secrets)  # sealed at rest
    box = SecretBox(settings.secret_key)
    assert box.open(row.secrets) == {"token": TOKEN}
    assert row.settings == {"mode": "polling", "api_base": telegram}
    taken = await admin.post("/admin/channels/new/telegram", data={"name": "shop bot", "token": TOKEN})
    assert taken.status_code == 400 and "уже есть" in taken.text

    edit = await admin.get(f"/admin/channels/{row.id}/edit")
    assert edit.status_code == 200
    assert TOKEN not in edit.text and TOKEN.split(":")[1] not in edit.text  # never shown back
    assert telegram in edit.text and 'value="shop bot"' in edit.text
    saved = await admin.post(
        f"/admin/channels/{row.id}/edit",
        data={"name": "main bot", "token": "", "mode": "polling", "api_base": telegram},
    )
    assert saved.status_code in (302, 303), saved.text
    row = await account_named(shop, "main bot")
    assert box.open(row.secrets) == {"token": TOKEN}  # a blank secret keeps the stored one
    bad_edit = await admin.post(
        f"/admin/channels/{row.id}/edit", data={"name": "main bot", "token": "", "api_base": "ftp://x"}
    )
    assert bad_edit.status_code == 400 and "«Сервер API»" in bad_edit.text

    checked = await admin.post(f"/admin/channels/{row.id}/check")
    assert checked.status_code == 200 and "Бот Telegram @" in checked.text
    off = await admin.post(f"/admin/channels/{row.id}/enabled", data={"enabled": "0"})
    assert off.status_code in (302, 303)
    row = await account_named(shop, "main bot")
    assert row.enabled is False

    actions = await audit_actions(shop)
    assert [a[0] for a in actions] == ["channel.add", "channel.edit", "channel.disable"]
    assert actions[1][2]["fields"] == ["name"]
    assert all(TOKEN not in str(a) for a in actions)
    log = (await admin.get("/admin/audit")).text
    assert "main bot" in log


async def test_every_kind_has_a_working_form_in_english(base: str, shop: SessionFactory) -> None:
    admin = await signed_in(base, EN_EMAIL, EN_PASSWORD)
    for kind, spec in SPECS.items():
        assert spec.config is not None
        page = await admin.get(f"/admin/channels/new/{kind}")
        assert page.status_code == 200, kind
        for f in spec.config.form_fields():
            assert f'name="{f.name}"' in page.text, (kind, f.name)
            assert f.label in page.text, (kind, f.label)
    assert (await admin.get("/admin/channels/new/fax")).status_code == 404
    bad = await admin.post(
        "/admin/channels/new/vk",
        data={"name": "club", "token": "t" * 40, "group_id": "x", "mode": "longpoll"},
    )
    assert bad.status_code == 400 and "«Community id» must be a whole number" in bad.text
    vk = await admin.post(
        "/admin/channels/new/vk",
        data={"name": "club", "token": "t" * 40, "group_id": "77", "mode": "callback", "confirmation": "ok1"},
    )
    assert vk.status_code == 200 and "/webhooks/vk/" in vk.text
    email = await admin.post(
        "/admin/channels/new/email",
        data={
            "name": "mail",
            "address": "Shop@Romashka.ru",
            "imap_host": "imap.example",
            "smtp_host": "smtp.example",
            "password": "pw-secret",
            "security": "starttls",
            "folders": "INBOX, Orders",
            "since": "2w",
        },
    )
    assert email.status_code == 200, email.text
    row = await account_named(shop, "mail")
    assert row.settings["folders"] == ["INBOX", "Orders"] and row.settings["since_days"] == 14
    edit = (await admin.get(f"/admin/channels/{row.id}/edit")).text
    assert "INBOX, Orders" in edit and 'value="14d"' in edit and "pw-secret" not in edit
    sms = await admin.post(
        "/admin/channels/new/sms",
        data={"name": "sms", "provider": "twilio", "sender": "+15005550006", "attachments": "note"},
    )
    assert sms.status_code == 400 and "Twilio needs «Account SID» and «Auth Token»" in sms.text
    actions = await audit_actions(shop)
    assert [a[0] for a in actions] == ["channel.add", "channel.add"]
