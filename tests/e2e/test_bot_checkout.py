"""Issue 6's end-to-end story: a customer checks out with the bot in Telegram (buttons, shared contact,
delivery, confirmation) and the manager, watching the inbox in Chromium, sees the new order arrive live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Page, expect

from inbox.db import make_engine, make_session_factory
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.emulators.telegram import (
    DEFAULT_TOKEN,
    TelegramEmulator,
    callback_update,
    contact_update,
    text_update,
    user,
)
from tests.integration.bots_world import seed_catalog
from tests.integration.test_bots_telegram import button, sent
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"
CHAT = 777


@pytest_asyncio.fixture(loop_scope="session")
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def turn(emu: TelegramEmulator, update: dict[str, Any]) -> tuple[str, list[list[dict[str, Any]]]]:
    """The customer does something; wait for the bot's one answer."""
    before = len(sent(emu))
    emu.queue_update(update)
    await emu.wait_for_requests("sendMessage", before + 1, timeout=30)
    return sent(emu)[-1]


async def test_customer_checks_out_in_telegram_manager_sees_the_order(
    page: Page, tmp_path: Path, emu: TelegramEmulator
) -> None:
    db = tmp_path / "bot.sqlite3"
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "bot-e2e-secret-0123456789",
        "INBOX_TELEGRAM_RATE_PER_CHAT": "50",
    }
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        (
            "channel",
            "add",
            "telegram",
            "--name",
            "shop",
            "--token",
            DEFAULT_TOKEN,
            "--api-base",
            emu.base_url,
        ),
    ):
        out = await asyncio.to_thread(cli, env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    engine = make_engine(env["INBOX_DATABASE_URL"])
    await seed_catalog(make_session_factory(engine))
    await engine.dispose()
    server = await asyncio.to_thread(ServeProcess(env, tmp_path).start)
    try:
        ivan = user(CHAT, "Иван", "Петров", language_code="ru")
        text, rows = await turn(emu, text_update(CHAT, "Есть ли кроссовки?", sender=ivan))
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await page.locator(".thread-item", has_text="Иван Петров").locator("a").click()
        await expect(
            page.locator("#messages .msg.out").first
        ).to_be_visible()  # the bot's answer is in the thread

        text, rows = await turn(emu, callback_update(CHAT, button(rows, "Кроссовки"), sender=ivan))
        assert "Кроссовки беговые" in text
        text, rows = await turn(emu, callback_update(CHAT, button(rows, "корзину"), sender=ivan))
        text, rows = await turn(emu, callback_update(CHAT, button(rows, "Оформить"), sender=ivan))
        text, rows = await turn(emu, text_update(CHAT, "Иван Петров", sender=ivan))
        text, rows = await turn(emu, contact_update(CHAT, "79991234567", sender=ivan))
        text, rows = await turn(emu, callback_update(CHAT, button(rows, "Курьер"), sender=ivan))
        text, rows = await turn(emu, text_update(CHAT, "Москва, Тверская 1, кв. 2", sender=ivan))
        text, rows = await turn(emu, callback_update(CHAT, button(rows, "Подтвердить"), sender=ivan))
        assert "#1001" in text  # the customer gets the order number

        # The manager sees it without reloading: the order line in the thread and the order in the panel.
        await expect(page.locator("#messages .msg.event", has_text="1001")).to_be_visible()
        await expect(page.locator("#side-panel")).to_contain_text("1001")
        await expect(page.locator("#messages .delivery.d-queued")).to_have_count(
            0
        )  # every delivery mark live
        await page.screenshot(path=shot_path("bot-checkout-order-live"))
    finally:
        await asyncio.to_thread(server.stop)
