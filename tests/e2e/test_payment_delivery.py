"""Issue 15's end-to-end story: a customer checks out with the bot in Telegram (a СДЭК pickup point in their
city, its tariff cost in the total), pays by the link in the
browser (the YooKassa emulator's page), the order turns paid, a manager hands it to СДЭК from the order
panel, the parcel's events arrive, the customer is told it arrived at the pickup point, and the order ends
delivered with no manager touching the status."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from inbox.db import make_engine, make_session_factory
from inbox.models import Order
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.emulators.cdek import CdekEmulator
from tests.emulators.telegram import (
    DEFAULT_TOKEN,
    TelegramEmulator,
    callback_update,
    contact_update,
    text_update,
    user,
)
from tests.emulators.yookassa import YooKassaEmulator
from tests.integration.bots_world import seed_catalog
from tests.integration.test_bots_telegram import button, sent
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"
CHAT = 778


@pytest_asyncio.fixture(loop_scope="session")
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def yk() -> Iterator[YooKassaEmulator]:
    with YooKassaEmulator() as e:
        yield e


@pytest.fixture
def cdek() -> Iterator[CdekEmulator]:
    with CdekEmulator() as e:
        yield e


async def turn(emu: TelegramEmulator, update: dict[str, Any], replies: int = 1) -> tuple[str, Any]:
    before = len(sent(emu))
    emu.queue_update(update)
    await emu.wait_for_requests("sendMessage", before + replies, timeout=30)
    return sent(emu)[before]


def _texts(emu: TelegramEmulator) -> list[str]:
    return [str(r.params.get("text")) for r in emu.requests("sendMessage")]


async def _until(check: Any, what: str, seconds: float = 60) -> Any:
    for _ in range(int(seconds * 10)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen")


async def test_pay_by_link_hand_to_cdek_delivered(
    page: Page,
    browser: Browser,
    tmp_path: Path,
    emu: TelegramEmulator,
    yk: YooKassaEmulator,
    cdek: CdekEmulator,
) -> None:
    db = tmp_path / "shop.sqlite3"
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "pay-e2e-secret-0123456789",
        "INBOX_TELEGRAM_RATE_PER_CHAT": "50",
        "INBOX_OUTBOX_BACKOFF_CAP": "1",
    }
    server = ServeProcess(env, tmp_path)
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        (
            "channel", "add", "telegram", "--name", "shop", "--token", DEFAULT_TOKEN,
            "--api-base", emu.base_url,
        ),
        (
            "payment", "add", "yookassa", "--name", "main", "--shop-id", yk.shop_id,
            "--secret-key", yk.secret_key, "--api-base", yk.base_url, "--return-url", server.url + "/healthz",
        ),
        (
            "carrier", "add", "cdek", "--name", "cdek", "--client-id", cdek.client_id,
            "--client-secret", cdek.client_secret, "--api-base", cdek.base_url,
        ),
    ):  # fmt: skip
        out = await asyncio.to_thread(cli, env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    yk.notify_url = f"{server.url}/webhooks/yookassa/1"
    engine = make_engine(env["INBOX_DATABASE_URL"])
    factory = make_session_factory(engine)
    await seed_catalog(factory)
    await asyncio.to_thread(server.start)
    try:
        ivan = user(CHAT, "Иван", "Петров", language_code="ru")
        _text, rows = await turn(emu, text_update(CHAT, "Есть ли кроссовки?", sender=ivan))
        _text, rows = await turn(emu, callback_update(CHAT, button(rows, "Кроссовки"), sender=ivan))
        _text, rows = await turn(emu, callback_update(CHAT, button(rows, "корзину"), sender=ivan))
        _text, rows = await turn(emu, callback_update(CHAT, button(rows, "Оформить"), sender=ivan))
        _text, rows = await turn(emu, text_update(CHAT, "Иван Петров", sender=ivan))
        _text, rows = await turn(emu, contact_update(CHAT, "79991234567", sender=ivan))
        # A СДЭК pickup point: the city's points come from СДЭК with the tariff's cost
        _text, rows = await turn(emu, callback_update(CHAT, button(rows, "Пункт выдачи СДЭК"), sender=ivan))
        await turn(emu, text_update(CHAT, "Москва", sender=ivan), replies=2)
        offered, rows = sent(emu)[-1]
        assert "350" in offered and "Москва" in offered
        summary, rows = await turn(emu, callback_update(CHAT, button(rows, "Тверская"), sender=ivan))
        assert "[MSK123] Москва, ул. Тверская, 1" in summary
        thanks, _ = await turn(
            emu, callback_update(CHAT, button(rows, "Подтвердить"), sender=ivan), replies=2
        )
        assert "#1001" in thanks and "оплатить" in thanks.lower()
        offer = emu.requests("sendMessage")[-1].params
        markup = (
            offer["reply_markup"]
            if isinstance(offer["reply_markup"], dict)
            else json.loads(offer["reply_markup"])
        )
        pay_url = markup["inline_keyboard"][0][0]["url"]
        assert pay_url.startswith(yk.base_url + "/pay/")

        # The customer pays in the browser (the provider's page), on a phone.
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.goto(pay_url)
        await expect(phone.locator(".amount")).to_contain_text("6340.00")  # 5 990 ₽ + 350 ₽ to the point
        await phone.click("#pay")
        await expect(phone.locator("#paid")).to_be_visible()
        await phone.screenshot(path=shot_path("payment-emulator-paid"))
        await phone.close()

        # The manager sees the order paid and confirmed, and hands it to СДЭК.
        async def paid() -> Order | None:
            async with factory() as session:
                row = (await session.execute(select(Order).where(Order.number == 1001))).scalar_one()
                return row if row.payment_state == "paid" else None

        order = await _until(paid, "the payment")
        assert order.status == "confirmed"  # the "new" status's on_paid rule, no manager involved
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await page.goto(f"{server.url}/threads/{order.thread_id}")
        panel = page.locator("#order-panel")
        await expect(panel.locator('#order-payments[data-summary="paid"]')).to_be_visible()
        await expect(panel.locator(".pay-history")).to_contain_text("bank_card")
        await page.screenshot(path=shot_path("order-paid-panel"))
        await panel.locator("#hand-to-cdek").click()
        await expect(panel.locator("#tracking-number")).to_have_value(re.compile(r"^\d{10}$"))
        (order_uuid,) = cdek.orders
        created = next(r for r in cdek.requests if r["path"] == "/v2/orders" and r["method"] == "POST")
        assert json.loads(created["body"])["delivery_point"] == "MSK123"  # the customer's choice
        hook = f"{server.url}/webhooks/cdek/1"

        # The parcel's events arrive; nobody touches the status.
        for code, city in (
            ("ACCEPTED", "Москва"),
            ("SENT_TO_TRANSIT_CITY", "Тверь"),
            ("ACCEPTED_AT_PICK_UP_POINT", "Москва"),
            ("DELIVERED", "Москва"),
        ):
            cdek.add_status(order_uuid, code, city=city)
            assert await asyncio.to_thread(cdek.webhook, hook, order_uuid) == 200

        async def delivered() -> Order | None:
            async with factory() as session:
                row = (await session.execute(select(Order).where(Order.number == 1001))).scalar_one()
                return row if row.status == "delivered" else None

        await _until(delivered, "the order delivered")

        async def told_pickup() -> bool:
            return any("пункт выдачи" in t and "Тверская, 1" in t for t in _texts(emu))

        await _until(told_pickup, "the customer told the parcel is at the pickup point")
        await page.reload()
        await expect(page.locator("#messages .msg.event", has_text="Вручен")).to_be_visible()
        await expect(page.locator('#messages .order-event[data-event="parcel"]')).to_have_count(5)
        await page.locator("#order-panel a", has_text="№1001").click()  # a finished order: open it by number
        await expect(page.locator("#parcel-events li")).to_have_count(5)
        await page.screenshot(path=shot_path("order-delivered-by-cdek"))
        assert sum("пункт выдачи" in t for t in _texts(emu)) == 1
    finally:
        await asyncio.to_thread(server.stop)
        await engine.dispose()
