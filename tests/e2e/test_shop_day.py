"""A shop's day in Chromium, in the default configuration (bots on), on SQLite and on PostgreSQL.

The demo shop (`inbox demo`) with its demo channels, plus a real mailbox (dovecot over IMAP IDLE, aiosmtpd).
Customers are played from the demo customer page in a second tab, opened from the inbox: a new Telegram
customer talks to the bot (greeting, a button, the hand-off), the two look-alike Екатерина customers of the
demo (one on Telegram, one on VK, each with an order) greet the bot, a new SMS customer asks about an order.
Two managers split the work: the admin hands the Telegram customer to Ольга and takes the SMS one. Ольга
answers, assembles an order in the order panel, marks it paid by hand, ships it with a tracking number (the
customer's messenger gets the notice). The admin merges the two Екатерина customers (both used the bot and
have orders), answers a letter whose newest mail is an auto-reply (the answer threads onto the letter the
customer wrote), and the customer card shows it all. Screenshots: desktop, the customer page and a phone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from inbox.core.security import hash_password
from inbox.db import make_engine, make_session_factory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.migrate import upgrade
from inbox.models import Manager
from tests import services
from tests.dovecot import Dovecot
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.integration.email_conftest import SmtpServer
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.email_conftest import smtp_server as smtp_server
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

OLGA, OLGA_PASSWORD = "olga@shop.example", "olga-password-1"
SHOP_MAIL = "shop@romashka.ru"


@pytest_asyncio.fixture(params=["sqlite", "postgresql"], loop_scope="session")
async def shop_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'day.sqlite3'}"
        return
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    url = await asyncio.to_thread(services.create_pg_database)
    try:
        yield url
    finally:
        await asyncio.to_thread(services.drop_pg_database, url)


def letter(
    subject: str, message_id: str, text: str, *, in_reply_to: str | None = None, auto: bool = False
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Нина Белова <nina@example.org>"
    msg["To"] = SHOP_MAIL
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text)
    return msg.as_bytes()


def parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def plain(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return str(body.get_content()) if body is not None else ""


async def wait_for(check: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def settled(page: Page) -> None:
    """htmx wires swapped-in content once it settles: wait for that before the next click."""
    await page.wait_for_function(
        "() => !document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"
    )


async def become(customer: Page, channel: str, name: str, phone: str = "") -> None:
    """On the customer page: start as a new customer of a demo channel."""
    who = customer.locator("details.who")
    if await who.get_attribute("open") is None:
        await who.locator("summary").click()
    await customer.locator("#new-account").select_option(label=channel)
    await customer.fill("#new-name", name)
    await customer.fill("#new-phone", phone)
    await customer.click("#new-customer button[type=submit]")
    await expect(customer.locator("#say textarea")).to_be_visible()


async def act_as(customer: Page, label: str) -> None:
    who = customer.locator("details.who")
    if await who.get_attribute("open") is None:
        await who.locator("summary").click()
    await customer.locator("#persona").select_option(label=label)
    await customer.locator("form:has(#persona) button[type=submit]").click()
    await expect(customer.locator("#say textarea")).to_be_visible()


async def say(customer: Page, text: str) -> None:
    await customer.fill("#say textarea", text)
    await customer.click("#say-send")
    await expect(customer.locator("#chat .bubble.in .text", has_text=text)).to_be_visible()


async def test_a_shop_day(
    page: Page, browser: Browser, tmp_path: Path, shop_db: str, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    started = last = time.monotonic()

    def lap(what: str) -> None:
        nonlocal last
        now = time.monotonic()
        print(f"  {what}: {now - last:.1f} s")
        last = now

    env = {
        "INBOX_DATABASE_URL": shop_db,
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "shop-day-secret-0123456789",
    }
    dovecot.deliver(
        letter("Размер платья", "<day-1@example.org>", "Здравствуйте! Платье в горошек есть в M?")
    )
    await asyncio.to_thread(upgrade, shop_db)
    demo = asyncio.to_thread(cli, env, tmp_path, "demo")  # the CLI a newcomer runs
    mailbox = asyncio.to_thread(
        cli, env, tmp_path,
        "channel", "add", "email", "--name", "shop mail", "--address", SHOP_MAIL, "--display-name",
        "Магазин Ромашка", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.port), "--smtp-host",
        "127.0.0.1", "--smtp-port", str(smtp_server.port), "--username", dovecot.user, "--password",
        dovecot.password, "--security", "none", "--since", "30d",
    )  # fmt: skip
    for done in await asyncio.gather(demo, mailbox):
        assert done.returncode == 0, done.stderr
    engine = make_engine(shop_db)
    try:
        async with transaction(make_session_factory(engine)) as session:
            session.add(Manager(email=OLGA, name="Ольга", password_hash=hash_password(OLGA_PASSWORD)))
    finally:
        await engine.dispose()
    server = await asyncio.to_thread(ServeProcess(env, tmp_path).start)
    base = server.url
    olga_ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    olga = await olga_ctx.new_page()
    olga.set_default_timeout(20_000)
    try:
        await sign_in(page, base, DEMO_EMAIL, DEMO_PASSWORD)
        await sign_in(olga, base, OLGA, OLGA_PASSWORD)
        await expect(page.locator("#live")).to_have_class("live on")
        await expect(olga.locator("#live")).to_have_class("live on")

        lap("server + sign-in")
        # The customer page, opened from the inbox in a second tab.
        async with page.context.expect_page() as opened:
            await page.click("#play-customer")
        customer = await opened.value
        customer.set_default_timeout(20_000)
        await expect(customer.locator("h1")).to_have_text("Демо: вы — покупатель")

        # A new Telegram customer: the bot greets with buttons, answers a press, then hands off.
        await become(customer, "Telegram (Демо Telegram)", "Павел Соколов")
        await say(customer, "Здравствуйте")
        greeting = customer.locator("#chat .bubble.out[data-author=bot]").first
        await expect(greeting.locator("button.bot-button").first).to_be_visible()
        await greeting.locator("button.bot-button", has_text="Каталог").click()
        await expect(customer.locator("#chat .bubble.out[data-author=bot]")).to_have_count(2)
        await say(customer, "Позовите менеджера")
        await expect(customer.locator("#chat .bubble.out[data-author=bot]").last).to_contain_text("менеджер")
        pavel = page.locator(".thread-item", has_text="Павел Соколов")
        await expect(pavel).to_have_count(1)  # live in the managers' inbox
        await customer.screenshot(path=shot_path("shop-day-customer-page"))

        lap("telegram + bot hand-off")
        # The look-alike customers of the demo greet the bot, each on their channel.
        for label in ("Екатерина Волкова · Telegram", "Екатерина Волкова · VK"):
            await act_as(customer, label)
            await say(customer, "Здравствуйте")
            await expect(customer.locator("#chat .bubble.out[data-author=bot]")).to_have_count(1)

        lap("two look-alikes")
        # A new SMS customer asks about an order: the bot answers by SMS (numbered menu, no buttons).
        await become(customer, "SMS (Демо SMS)", "Роман Ильин", "+7 999 000-11-22")
        await say(customer, "Где мой заказ")
        await expect(customer.locator("#chat .bubble.out[data-author=bot]")).to_have_count(1)
        roman = page.locator(".thread-item", has_text="Роман Ильин")
        await expect(roman).to_have_count(1)

        lap("sms")
        # Two managers split the work: Павел goes to Ольга, the admin takes Роман.
        await pavel.locator("a").click()
        await expect(page.locator("#thread .thread-head h2")).to_have_text("Павел Соколов")
        await expect(page.locator("#thread-head .badge.handoff")).to_be_visible()
        await settled(page)
        await page.select_option("#assign-form select", label="Ольга")
        await expect(page.locator("#thread-head")).not_to_have_attribute("data-assignee", "")  # saved
        await expect(olga.locator("#count-mine")).to_have_text("1")
        await roman.locator("a").click()
        await expect(page.locator("#thread .thread-head h2")).to_have_text("Роман Ильин")
        await page.click("#assign-me")
        await expect(page.locator("#assign-form select option:checked")).to_contain_text("Администратор")
        await page.fill("#reply-form textarea", "Роман, ваш заказ приедет завтра до 18:00.")
        await page.click("#reply-form button[type=submit]")
        await expect(customer.locator("#chat .bubble.out[data-author=manager]")).to_contain_text(
            "приедет завтра"
        )  # live on the customer's phone

        lap("split the work")
        # Ольга answers Павел and assembles his order beside the thread.
        await olga.click("#view-mine")
        await olga.locator(".thread-item", has_text="Павел Соколов").locator("a").click()
        await expect(olga.locator("#thread .thread-head h2")).to_have_text("Павел Соколов")
        await olga.fill("#reply-form textarea", "Павел, здравствуйте! Меня зовут Ольга, помогу с заказом.")
        await olga.click("#reply-form button[type=submit]")
        await act_as(customer, "Павел Соколов · Telegram")
        await expect(customer.locator("#chat .bubble.out[data-author=manager]")).to_contain_text("Ольга")

        panel = olga.locator("#order-panel")
        await panel.locator("#order-new").click()
        await expect(panel.locator("#product-q")).to_be_visible()
        await settled(olga)
        await panel.locator("#product-q").fill("SN-101")
        hit = olga.locator(".product-hit[data-sku='SN-101']")
        await expect(hit).to_be_visible()
        await expect(hit.locator("img.thumb")).to_have_attribute("src", "/demo/images/SN-101.svg")
        await olga.wait_for_function(  # the picture drawn at seed time loads from our server
            "() => { const i = document.querySelector(\".product-hit[data-sku='SN-101'] img.thumb\");"
            " return !!i && i.complete && i.naturalWidth > 0; }"
        )
        await settled(olga)
        await hit.locator("button.add").click()
        await expect(panel.locator("tr.line[data-sku='SN-101']")).to_be_visible()
        await settled(olga)
        await panel.locator("#order-submit").click()
        await expect(panel.locator(".order-head h3")).to_contain_text("№")
        await settled(olga)
        await panel.locator(".details select[name=payment_state]").select_option("paid")
        await panel.locator(".details input[name=paid_amount]").fill("6990.00")
        await panel.locator(".details button[type=submit]").click()
        await expect(panel.locator('#order-payments[data-summary="paid"]')).to_be_visible()
        await settled(olga)
        for code in ("confirmed", "assembling"):
            await panel.locator("#order-status").select_option(code)
            await panel.locator(".status-form button[type=submit]").click()
            await expect(panel.locator(".order-head .status")).to_have_attribute("data-status", code)
            await settled(olga)
        await panel.locator("select[name=carrier]").select_option("cdek")
        await panel.locator("#tracking-number").fill("1234567890")
        await panel.locator(".tracking button[type=submit]").click()
        await expect(panel.locator(".tracking a")).to_have_attribute(
            "href", "https://www.cdek.ru/ru/tracking?order_id=1234567890"
        )
        await settled(olga)
        await panel.locator("#order-status").select_option("handed_to_delivery")
        await panel.locator(".status-form button[type=submit]").click()
        await expect(panel.locator(".order-head .status")).to_have_attribute(
            "data-status", "handed_to_delivery"
        )
        notice = customer.locator("#chat .bubble.out", has_text="передан в доставку")
        await expect(notice).to_contain_text("1234567890")  # the customer's messenger gets the tracking link
        await olga.screenshot(path=shot_path("shop-day-order-shipped"))

        lap("order assembled, paid, shipped")
        # The admin merges the two Екатерина customers (both talked to the bot, both have orders).
        await page.locator(".thread-item", has_text="Екатерина Волкова").first.locator("a").click()
        await page.click("#thread .customer-link")
        await page.locator(".suggestion a.merge").click()
        await page.click("form button[type=submit].primary")
        await expect(page.locator(".identity")).to_have_count(2)
        await expect(page.locator(".card-order")).to_have_count(2)
        await page.goto(base + "/")
        await expect(page.locator(".thread-item", has_text="Екатерина Волкова")).to_have_count(1)

        lap("merge")
        # Email: the bot answered the letter; the customer's mail server sent an auto-reply to it; the
        # admin's answer threads onto the letter the customer wrote, not onto the auto-reply.
        received = smtp_server.handler.received
        bot_letter = parsed((await wait_for(lambda: received and list(received)))[0].data)
        assert bot_letter["In-Reply-To"] == "<day-1@example.org>"
        dovecot.deliver(
            letter("Автоответ: Re: Размер платья", "<day-auto@example.org>", "Я в отпуске до понедельника.",
                   in_reply_to=str(bot_letter["Message-ID"]), auto=True)
        )  # fmt: skip
        await page.locator(".thread-item", has_text="Нина Белова").locator("a").click()
        await expect(page.locator("#messages .msg.in")).to_have_count(2)
        await page.fill("#reply-form textarea", "Нина, платье в размере M есть, отложили для вас.")
        await page.click("#reply-form button[type=submit]")
        mine = await wait_for(lambda: [r for r in received if "отложили" in plain(parsed(r.data))])
        answer = parsed(mine[0].data)
        assert answer["Subject"] == "Re: Размер платья"
        assert answer["In-Reply-To"] == "<day-1@example.org>"  # not the auto-reply

        lap("email")
        # The customer card shows it all: the order shipped and paid, the conversation, the channel.
        await olga.click("#thread .customer-link")
        await expect(olga.locator(".card-order")).to_have_count(1)
        await expect(olga.locator(".card-order .status")).to_have_text("Передан в доставку")
        await expect(olga.locator(".card-figures .ltv")).to_contain_text("6 990")
        await expect(olga.locator(".card-conversations")).to_contain_text("передан в доставку")
        await expect(olga.locator(".identity .badge")).to_have_text("Telegram")
        await olga.screenshot(path=shot_path("shop-day-customer-card"), full_page=True)
        await page.screenshot(path=shot_path("shop-day-admin"))

        lap("card")
        # The same day on a phone: Ольга opens Павел's thread at 390x844.
        phone_ctx = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="ru-RU"
        )
        phone = await phone_ctx.new_page()
        phone.set_default_timeout(20_000)
        try:
            await sign_in(phone, base, OLGA, OLGA_PASSWORD)
            await phone.locator(".thread-item", has_text="Павел Соколов").locator("a").click()
            await expect(phone.locator("#messages .msg.out", has_text="передан в доставку")).to_be_visible()
            width = await phone.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"the thread scrolls sideways on a phone: {width}px"
            await phone.screenshot(path=shot_path("shop-day-phone"))
            await customer.set_viewport_size({"width": 390, "height": 844})
            width = await customer.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"the customer page scrolls sideways on a phone: {width}px"
            await customer.screenshot(path=shot_path("shop-day-customer-phone"))
        finally:
            await phone_ctx.close()
        print(f"shop's day on {shop_db.split(':')[0]}: {time.monotonic() - started:.1f} s")
    finally:
        await olga_ctx.close()
        await asyncio.to_thread(server.stop)
