"""A newcomer's first minutes: the demo shop, signed in from Chromium, answering a customer."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP


async def test_demo_inbox_answer_and_language(page: Page, sqlite_url: str, tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    env = {"INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "INBOX_DATA_DIR": str(tmp_path / "data")}
    assert cli(env, tmp_path, "db", "upgrade").returncode == 0
    seeded = cli(env, tmp_path, "demo")
    assert DEMO_EMAIL in seeded.stdout and DEMO_PASSWORD in seeded.stdout
    server = ServeProcess(env, tmp_path).start()
    try:
        await page.goto(server.url + "/login")
        await page.fill("input[name=email]", DEMO_EMAIL)
        await page.fill("input[name=password]", "wrong-password")
        await page.click("button[type=submit]")
        await expect(page.locator(".error")).to_contain_text("Неверный")

        await sign_in(page, server.url, DEMO_EMAIL, DEMO_PASSWORD)
        await expect(page.locator(".thread-item")).to_have_count(8)  # the demo shop's conversations
        await expect(page.locator("#live")).to_have_class("live on")
        await page.click("text=Анна Смирнова")
        await expect(page.locator("#thread .thread-head h2")).to_have_text("Анна Смирнова")
        await page.fill("#reply-form textarea", "Трек-номер: <b>1234</b>")
        await page.click("#reply-form button[type=submit]")
        last = page.locator("#messages .msg.out").last
        await expect(last.locator(".text")).to_have_text("Трек-номер: <b>1234</b>")  # escaped, not markup
        await expect(last.locator(".delivery")).to_contain_text("отправлено")
        await page.screenshot(path=shot_path("demo-inbox-ru"))

        await page.select_option("select[name=locale]", "en")
        await expect(page.locator("#reply-form button[type=submit]")).to_have_text("Send")
    finally:
        server.stop()
