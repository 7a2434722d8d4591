"""The website widget in Chromium, the issue's story: a visitor on a shop's page (another origin, a strict
Content-Security-Policy, hostile page styles) opens the widget, gets the bot's answers with buttons, places an
order through the bot, chats live with a manager who answers from the inbox, leaves an email and confirms it
with the code that arrives through the shop's mailbox (aiosmtpd -> dovecot), and a later letter from that
address joins the same customer and thread. Reloading the page keeps the history; axe-core finds no serious
accessibility violation in the widget."""

from __future__ import annotations

import asyncio
import re
import struct
import threading
import zlib
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from inbox.customer_card.consent import current_consent
from inbox.db import make_engine, make_session_factory
from inbox.models import Identity, Message, Order, Thread
from tests.dovecot import Dovecot
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.integration.bots_world import seed_catalog
from tests.integration.email_conftest import SmtpServer
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.email_conftest import smtp_server as smtp_server
from tests.server import ServeProcess, cli
from tests.services import free_port

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"

# The shop's own page: its styles try hard to reach everything, its policy allows scripts, requests and
# images from the inbox origin only, no inline script or style.
PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Магазин Ромашка</title>
<link rel="stylesheet" href="/shop.css"></head>
<body><h1>Магазин Ромашка</h1><p>Кроссовки, платья, носки.</p>
{snippet}
</body></html>"""
SHOP_CSS = (
    "* { color: rgb(255, 0, 0) !important; font-size: 31px !important; } button { display: none !important; }"
)


class ShopSite:
    """A tiny shop site on its own origin."""

    def __init__(self, snippet: str, inbox_origin: str, port: int) -> None:
        self.port = port
        page = PAGE.format(snippet=snippet).encode()
        csp = (
            f"default-src 'self'; script-src 'self' {inbox_origin}; connect-src 'self' {inbox_origin}; "
            f"img-src 'self' {inbox_origin}; style-src 'self'; object-src 'none'; base-uri 'none'"
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = (
                    (SHOP_CSS.encode(), "text/css") if self.path == "/shop.css" else (page, "text/html")
                )
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Security-Policy", csp)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ShopSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def tiny_png() -> bytes:
    """A valid 2x2 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def later_letter() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Иван Петров <ivan@example.org>"
    msg["To"] = "shop@romashka.ru"
    msg["Subject"] = "Про мой заказ"
    msg["Message-ID"] = "<widget-e2e-later@example.org>"
    msg.set_content("Можно доставить заказ после шести?")
    return msg.as_bytes()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'widget.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "widget-e2e-secret-0123456789",
    }


async def widget_says(page: Page, text: str) -> None:
    await expect(page.locator("[data-inbox-widget] .msg.out", has_text=text).last).to_be_visible(
        timeout=30_000
    )


async def press(page: Page, label: str) -> None:
    button = page.locator("[data-inbox-widget] .msg.out .btns button:not([disabled])", has_text=label).last
    await expect(button).to_be_visible(timeout=30_000)
    await button.click()


async def say(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Ваше сообщение")
    await box.fill(text)
    await box.press("Enter")


async def turn(page: Page, action: Any, *args: Any) -> None:
    """The visitor does something; wait for the bot's next answer before the next step."""
    answers = page.locator("[data-inbox-widget] .msg.out:not(.greet)")
    before = await answers.count()
    await action(page, *args)
    await expect(answers).to_have_count(before + 1, timeout=30_000)


async def test_visitor_orders_with_the_bot_talks_to_a_manager_and_confirms_the_email(
    browser: Browser, tmp_path: Path, env: dict[str, str], dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    server = ServeProcess(env, tmp_path)
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        ("channel", "add", "email", "--name", "shop mail", "--address", "shop@romashka.ru",
         "--display-name", "Магазин Ромашка", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.port),
         "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_server.port), "--username", dovecot.user,
         "--password", dovecot.password, "--security", "none", "--since", "30d"),
    ):  # fmt: skip
        out = await asyncio.to_thread(cli, env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    # The shop's site runs on another origin; the widget key allows exactly that origin.
    site_port = free_port()
    site_origin = f"http://127.0.0.1:{site_port}"
    out = await asyncio.to_thread(
        cli, env, tmp_path, "channel", "add", "widget", "--name", "site", "--origin", site_origin,
        "--public-url", server.url,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    snippet = next(line for line in out.stdout.splitlines() if line.startswith("<script"))
    assert re.fullmatch(
        rf'<script src="{re.escape(server.url)}/widget\.js" data-key="[^"]+" async></script>', snippet
    )
    engine = make_engine(env["INBOX_DATABASE_URL"])
    factory = make_session_factory(engine)
    await seed_catalog(factory)

    shop = ShopSite(snippet, server.url, site_port)
    await asyncio.to_thread(server.start)
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    manager_ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    csp_errors: list[str] = []
    try:
        with shop:
            page = await context.new_page()
            page.set_default_timeout(20_000)
            page.on(
                "console",
                lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
            )
            await page.goto(shop.url)
            launcher = page.get_by_role("button", name="Открыть чат")
            await expect(launcher).to_be_visible()
            # The page's styles do not reach inside: the launcher is shown and keeps its own colours.
            colour = await launcher.evaluate("b => getComputedStyle(b).color")
            assert colour == "rgb(255, 255, 255)"
            await launcher.focus()
            await page.keyboard.press("Enter")  # keyboard opens it; focus goes to the message box
            dialog = page.get_by_role("dialog", name="Напишите нам")
            await expect(dialog).to_be_visible()
            await expect(page.get_by_role("textbox", name="Ваше сообщение")).to_be_focused()
            await expect(dialog).to_contain_text("Здравствуйте! Спросите нас о чём угодно")

            # The bot answers at once, with buttons; the visitor orders through it.
            await turn(page, say, "Есть ли кроссовки?")
            await turn(page, press, "Кроссовки")
            await widget_says(page, "Кроссовки беговые")
            await turn(page, press, "корзину")
            await turn(page, press, "Оформить")
            await turn(page, say, "Иван Петров")
            await turn(page, say, "+7 999 123-45-67")
            await turn(page, press, "Курьер")
            await turn(page, say, "Москва, Тверская 1, кв. 2")
            await widget_says(page, "Имя: Иван Петров")
            await turn(page, press, "Подтвердить")
            await widget_says(page, "#1001")
            await page.screenshot(path=shot_path("widget-bot-order"))

            async with factory() as session:
                ident = (
                    await session.execute(select(Identity).where(Identity.kind == "widget"))
                ).scalar_one()
                thread = (
                    await session.execute(select(Thread).where(Thread.customer_id == ident.customer_id))
                ).scalar_one()
                order = (await session.execute(select(Order).where(Order.number == 1001))).scalar_one()
                assert order.customer_id == ident.customer_id

            # A manager answers from the inbox; the visitor sees it live; the visitor answers back live.
            manager = await manager_ctx.new_page()
            manager.set_default_timeout(20_000)
            await sign_in(manager, server.url, EMAIL, PASSWORD)
            await manager.goto(f"{server.url}/threads/{thread.id}")
            await expect(manager.locator("#messages")).to_contain_text("Есть ли кроссовки?")
            # The manager types (the visitor sees it), then sends.
            await manager.locator("#reply-form textarea").press_sequentially(
                "Иван, это Ольга: заказ соберём сегодня."
            )
            await expect(page.locator("[data-inbox-widget] .typing")).to_have_text("печатает…")
            await manager.click("#reply-form button[type=submit]")
            await widget_says(page, "Иван, это Ольга: заказ соберём сегодня.")
            # The visitor types: the manager sees it in the thread's presence line, like a colleague's typing.
            presence = manager.locator("#presence-line")
            box = page.get_by_role("textbox", name="Ваше сообщение")
            for attempt in range(
                3
            ):  # the loader reports typing at most every 3 s: a later try always goes out
                await box.press_sequentially("Спасибо")
                try:
                    await expect(presence).to_contain_text("Клиент", timeout=5_000)
                    break
                except AssertionError:
                    await box.fill("")
                    if attempt == 2:
                        raise
            await expect(presence).to_contain_text("печатает…")
            await say(page, "Спасибо, Ольга!")
            await expect(manager.locator("#messages .msg.in", has_text="Спасибо, Ольга!")).to_be_visible()
            # A picture from the visitor reaches the manager; a file of a refused type never leaves the page.
            picture = tmp_path / "кроссовки.png"
            picture.write_bytes(tiny_png())
            await page.locator("[data-inbox-widget] input[type=file]").set_input_files(str(picture))
            await expect(manager.locator("#messages .msg.in").last.locator("img")).to_be_visible()
            await page.locator("[data-inbox-widget] input[type=file]").set_input_files(
                files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
            )
            await expect(page.get_by_role("alert")).to_have_text("Такой тип файла отправить нельзя.")

            # The visitor leaves an email; the code comes by the shop's mailbox; the visitor confirms it.
            before = len(smtp_server.handler.received)
            await page.get_by_role(
                "textbox", name="Оставьте почту или телефон, чтобы получать ответы и туда"
            ).fill("ivan@example.org")
            # The marketing consent box: unticked until the visitor ticks it.
            agree = page.get_by_role(
                "checkbox", name="Присылать мне новости и предложения в этот чат и на этот адрес"
            )
            await expect(agree).not_to_be_checked()
            await agree.check()
            await page.get_by_role("button", name="Получить код").click()
            code_box = page.get_by_role("textbox", name=re.compile("Мы отправили код на ivan@example.org"))
            await expect(code_box).to_be_visible()
            code = await _code_for(smtp_server, before, "ivan@example.org")
            await code_box.fill(code)
            await (
                page.locator("[data-inbox-widget] form.contact")
                .get_by_role("button", name="Подтвердить")
                .click()
            )
            await expect(page.get_by_role("status")).to_contain_text("Подтверждено: ivan@example.org")

            # A later letter from that address joins the same customer and thread.
            dovecot.deliver(later_letter())
            await expect(manager.locator("#messages")).to_contain_text(
                "Можно доставить заказ после шести?", timeout=60_000
            )
            async with factory() as session:
                letter = (
                    await session.execute(
                        select(Message).where(Message.text == "Можно доставить заказ после шести?")
                    )
                ).scalar_one()
                assert letter.thread_id == thread.id and letter.customer_id == ident.customer_id
                consent = await current_consent(session, ident.customer_id)
                assert {ch: (c.marketing, c.source) for ch, c in consent.items()} == {
                    "widget": (True, "widget"),
                    "email": (True, "widget"),
                }

            # A reload (and so a new tab) keeps the history.
            await page.reload()
            await page.get_by_role("button", name=re.compile("Открыть чат")).click()
            await expect(
                page.locator("[data-inbox-widget] .msg.in", has_text="Есть ли кроссовки?")
            ).to_be_visible()
            await widget_says(page, "Иван, это Ольга: заказ соберём сегодня.")
            await widget_says(page, "#1001")
            await page.screenshot(path=shot_path("widget-after-reload"))

            # Accessibility: axe-core over the page with the widget open.
            results = await Axe().run(page)
            serious = [
                v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")
            ]
            assert serious == [], results.generate_report()
            # Escape closes the dialog and gives focus back to the launcher.
            await page.get_by_role("textbox", name="Ваше сообщение").press("Escape")
            await expect(page.get_by_role("dialog")).to_be_hidden()
            await expect(page.get_by_role("button", name=re.compile("Открыть чат"))).to_be_focused()
            # On a phone the open chat fits the screen.
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.get_by_role("button", name=re.compile("Открыть чат")).click()
            box = await page.get_by_role("dialog").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0
            await expect(page.get_by_role("button", name="Отправить")).to_be_in_viewport()
            await page.screenshot(path=shot_path("widget-phone"))
            # The picture shows (its Cyrillic name travels in the download header too).
            picture_shown = page.locator("[data-inbox-widget] .att img").first
            await expect(picture_shown).to_be_visible()
            assert await picture_shown.evaluate("i => i.complete && i.naturalWidth") == 2
            assert csp_errors == []
    finally:
        await context.close()
        await manager_ctx.close()
        await asyncio.to_thread(server.stop)
        await engine.dispose()


async def _code_for(smtp: SmtpServer, before: int, address: str) -> str:
    for _ in range(300):
        for got in smtp.handler.received[before:]:
            letter = message_from_bytes(got.data, policy=policy.default)
            if address in got.rcpt_tos and "Код подтверждения" in str(letter["Subject"]):
                body = letter.get_body(("plain",))
                found = re.search(r"\b(\d{6})\b", str(body.get_content()) if body else "")
                if found:
                    return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError("no confirmation code arrived by mail")
