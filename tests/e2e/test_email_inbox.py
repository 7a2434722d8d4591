"""The corporate mailbox in Chromium: a letter arrives (dovecot -> IMAP IDLE -> inbox serve), the manager
sees the subject, the folded quote and the HTML version, links the letter to the customer's order, answers
it, and the SMTP server receives the answer with the right threading headers and the order tag. Bots are on
(the default): the bot answers each letter (greeting, numbered menu) until the manager writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import select

from inbox.db import make_engine, make_session_factory, transaction
from inbox.models import Customer, Order, Thread
from tests.dovecot import Dovecot
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.integration.email_conftest import SmtpServer
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.email_conftest import smtp_server as smtp_server
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"


def first_letter() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Анна Смирнова <anna@example.org>"
    msg["To"] = "shop@romashka.ru"
    msg["Subject"] = "Платье в горошек"
    msg["Message-ID"] = "<e2e-1@example.org>"
    msg["Date"] = "Tue, 24 Nov 2026 09:00:00 +0300"
    msg.set_content(
        "Здравствуйте! Есть ли размер M?\n\n-- \nАнна Смирнова\n+7 900 000-00-00\n\n"
        "> Добрый день! Поступили новые платья.\n> Магазин Ромашка\n"
    )
    msg.add_alternative(
        "<p>Здравствуйте! Есть ли размер <b>M</b>?</p><blockquote>Добрый день!</blockquote>", subtype="html"
    )
    return msg.as_bytes()


def second_letter() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Анна Смирнова <anna@example.org>"
    msg["To"] = "shop@romashka.ru"
    msg["Subject"] = "Re: Платье в горошек"
    msg["Message-ID"] = "<e2e-2@example.org>"
    msg["In-Reply-To"] = "<e2e-1@example.org>"
    msg["References"] = "<e2e-1@example.org>"
    msg["Date"] = "Tue, 24 Nov 2026 09:05:00 +0300"
    msg.set_content("И ещё: доставка в Казань возможна?")
    return msg.as_bytes()


def parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def plain(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_letter_arrives_manager_links_order_and_answers(
    page: Page, tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'email-e2e.sqlite3'}"
    env = {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "e2e-secret-key-0123456789",
    }
    dovecot.deliver(first_letter())
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        ("channel", "add", "email", "--name", "shop mail", "--address", "shop@romashka.ru",
         "--display-name", "Магазин Ромашка", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.port),
         "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_server.port), "--username", dovecot.user,
         "--password", dovecot.password, "--security", "none", "--since", "30d"),
    ):  # fmt: skip
        out = cli(env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    assert "first sync: 1 letters fetched" in out.stdout

    server = ServeProcess(env, tmp_path).start()
    engine = make_engine(db_url)
    try:
        await sign_in(page, server.url, EMAIL, PASSWORD)
        item = page.locator(".thread-item", has_text="Анна Смирнова")
        await expect(item).to_be_visible()
        await item.locator("a").click()
        first = page.locator("#messages .msg.in").first
        await expect(first.locator(".email-conversation")).to_have_text("✉ Платье в горошек")
        await expect(first.locator(".text")).to_have_text("Здравствуйте! Есть ли размер M?")
        await first.locator(".email-full summary").click()
        await expect(first.locator(".email-full .full-text")).to_contain_text("Поступили новые платья")
        await first.locator(".email-html summary").click()
        frame = page.frame_locator(f"#{await first.get_attribute('id')} iframe")
        await expect(frame.locator("b")).to_have_text("M")
        await first.locator(".email-html summary").click()  # folded again

        # the customer's order (made elsewhere, e.g. on the site)
        factory = make_session_factory(engine)
        async with transaction(factory) as session:
            customer = (await session.execute(select(Customer))).scalar_one()
            thread = (await session.execute(select(Thread))).scalar_one()
            session.add(Order(number=1042, customer_id=customer.id, thread_id=thread.id, status="new"))

        dovecot.deliver(second_letter())  # IMAP IDLE picks it up; it appears live
        second = page.locator("#messages .msg.in").nth(1)
        await expect(second.locator(".email-parent")).to_contain_text("Платье в горошек", timeout=30_000)
        await expect(second.locator(".email-conversation")).to_have_count(0)  # same conversation

        # The bot answered both letters by mail, each threaded onto the letter it answers.
        received = smtp_server.handler.received
        bot = [parsed(r.data) for r in await wait_for(lambda: len(received) >= 2 and list(received))]
        assert [(b["Subject"], b["In-Reply-To"]) for b in bot] == [
            ("Re: Платье в горошек", "<e2e-1@example.org>"),
            ("Re: Платье в горошек", "<e2e-2@example.org>"),
        ]
        await expect(page.locator("#messages .msg.out")).to_have_count(2)
        # the thread list re-renders with the bot's answer as preview (layout may shift): click once settled
        answer = plain(bot[1]).split("\n")[0]
        await expect(page.locator(".thread-item", has_text="Анна Смирнова")).to_contain_text(answer)
        link = second.locator("a.order-link-edit")
        await link.scroll_into_view_if_needed()  # it sits below the fold of the scrolled message list
        await link.click()
        await second.locator("select[name=order_id]").select_option(
            label="#1042 · Новый"
        )  # status names, not codes
        await second.locator(".order-link-form button[type=submit]").click()
        second = page.locator("#messages .msg.in").nth(1)
        await expect(second.locator(".badge.order")).to_contain_text("#1042")

        await second.locator("button.reply-to-letter").click()
        await expect(page.locator("#reply-to-label")).to_contain_text("Re: Платье в горошек")
        await page.fill("#reply-form textarea", "Анна, размер M есть, доставим в Казань за 3 дня.")
        await page.click("#reply-form button[type=submit]")
        out_msg = page.locator("#messages .msg.out", has_text="размер M есть")
        await expect(out_msg.locator(".delivery")).to_contain_text("отправлено", timeout=30_000)
        await expect(out_msg.locator(".email-subject")).to_have_text("Re: Платье в горошек [#1042]")
        await expect(page.locator("#reply-to-label")).to_have_text("")  # the choice is cleared after sending
        await page.screenshot(path=shot_path("email-inbox"), full_page=True)

        sends = await wait_for(lambda: len(received) >= 3 and list(received))
        assert len(sends) == 3  # the bot's two letters and the manager's one
        sent = parsed(sends[2].data)
        assert sent["To"] == "anna@example.org" and sends[2].rcpt_tos == ["anna@example.org"]
        assert sent["Subject"] == "Re: Платье в горошек [#1042]"
        assert sent["In-Reply-To"] == "<e2e-2@example.org>"  # the customer's letter, not the bot's
        assert sent["References"] == "<e2e-1@example.org> <e2e-2@example.org>"
        assert "Auto-Submitted" not in sent
        assert "размер M есть" in plain(sent)
    finally:
        await engine.dispose()
        server.stop()
