"""The demo shop's website in Chromium, at both local addresses of the server: the real widget loads under
the inbox's Content-Security-Policy and a visitor's message reaches the inbox with the bot's answer; the
demo payment page pays the waiting order ("Оплатить"); the parcel button moves the demo Boxberry parcel."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from playwright.async_api import Browser, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.server import ServeProcess, cli
from tests.services import free_port

pytestmark = E2E_LOOP


def _one(db: Path, sql: str) -> object:
    with sqlite3.connect(db) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


async def test_demo_site_widget_payment_and_parcel(browser: Browser, tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    env = {"INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "INBOX_DATA_DIR": str(tmp_path / "data")}
    port = free_port()
    assert cli(env, tmp_path, "db", "upgrade").returncode == 0
    assert cli(env, tmp_path, "demo", "--port", str(port)).returncode == 0  # what `make run PORT=…` does
    server = ServeProcess(env, tmp_path, port=port).start()
    problems: list[str] = []  # CSP refusals and script errors on the site's pages
    try:
        for n, host in enumerate(("127.0.0.1", "localhost")):
            base = f"http://{host}:{port}"
            context = await browser.new_context(locale="ru-RU")
            page = await context.new_page()
            page.set_default_timeout(20_000)
            page.on(
                "console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None
            )
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await sign_in(page, base, DEMO_EMAIL, DEMO_PASSWORD)
            await expect(page.locator("#demo-site")).to_have_attribute(
                "href", "/demo/site"
            )  # the menu's link
            await page.goto(base + "/demo/site")
            launcher = page.get_by_role("button", name="Открыть чат")
            await expect(launcher).to_be_visible()
            await launcher.click()
            box = page.get_by_role("textbox", name="Ваше сообщение")
            text = f"Здравствуйте! Есть худи размера M? ({host})"
            await box.fill(text)
            await box.press("Enter")
            # the bot greets the new visitor in the widget: the message went in and the answer came back live
            await expect(page.locator("[data-inbox-widget] .msg.out:not(.greet)").first).to_be_visible(
                timeout=30_000
            )
            assert _one(db, f"SELECT count(*) FROM message WHERE channel = 'widget' AND text = '{text}'") == 1
            await page.screenshot(path=shot_path(f"demo-site-widget-{n}"))
            assert problems == [], problems
            await context.close()

        context = await browser.new_context(locale="ru-RU")
        page = await context.new_page()
        page.set_default_timeout(20_000)
        base = f"http://127.0.0.1:{port}"
        await sign_in(page, base, DEMO_EMAIL, DEMO_PASSWORD)
        await page.goto(base + "/demo/site")
        order_id = _one(db, "SELECT order_id FROM payment WHERE status = 'pending'")
        await page.locator("a.demo-pay-link").first.click()
        await page.get_by_role("button", name="Оплатить").click()
        await expect(page.locator("#pay-result")).to_contain_text("Оплачено")
        await page.screenshot(path=shot_path("demo-pay-done"))
        assert _one(db, f"SELECT payment_state FROM orders WHERE id = {order_id}") == "paid"

        await page.goto(base + "/demo/site")
        status = page.locator("[data-parcel] .parcel-status")
        await expect(status).to_have_text("Передан на доставку до пункта выдачи")
        await page.locator(".parcel-next").click()
        for _ in range(60):  # the check runs in the outbox; the page shows what the carrier said last
            await page.goto(base + "/demo/site")
            if await status.text_content() == "Поступило в пункт выдачи":
                break
            await page.wait_for_timeout(250)
        await expect(status).to_have_text("Поступило в пункт выдачи")
        await context.close()
    finally:
        server.stop()
