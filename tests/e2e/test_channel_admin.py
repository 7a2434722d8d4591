"""The admin channel pages in Chromium on a phone screen (390x844): add an SMS number through the form the
schema generates, see the callback URL to paste, edit it (the secret is not shown back), disable it; the
pages fit the screen and nothing is refused by the Content-Security-Policy."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in

pytestmark = E2E_LOOP

FITS = "(width) => document.documentElement.scrollWidth <= width"


async def test_add_edit_disable_a_channel_on_a_phone(browser: Browser, demo_server: str) -> None:
    phone = {"width": 390, "height": 844}
    context = await browser.new_context(viewport=phone, locale="ru-RU", is_mobile=True)
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda exc: refused.append(str(exc)))
    try:
        await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
        await page.goto(demo_server + "/admin/channels")
        await page.click("#channel-kinds a[href='/admin/channels/new/sms']")
        await expect(page.locator("h1")).to_contain_text("Добавить канал")
        assert await page.evaluate(FITS, 390), "the add form is wider than the phone"
        await page.fill("#f-name", "SMS на сайте")
        await page.select_option("#f-provider", "smsru")
        await page.fill("#f-sender", "MyShop")
        await page.fill("#f-api_id", "smsru-api-id-secret")
        await page.fill("#f-public_url", "https://shop.example")
        await page.fill("#f-max_parts", "99")
        await page.click("#channel-form button.primary")
        await expect(page.locator("#form-error")).to_contain_text("«Частей не больше»: не больше 20")
        assert "smsru-api-id-secret" not in await page.content()  # a typed secret is not sent back
        await page.fill("#f-api_id", "smsru-api-id-secret")
        await page.fill("#f-max_parts", "4")
        await page.click("#channel-form button.primary")
        await expect(page.locator("h1")).to_contain_text("Канал добавлен")
        await expect(page.locator("#after-add")).to_contain_text("https://shop.example/webhooks/sms/")
        await page.screenshot(path=shot_path("channel-added-phone"))

        await page.goto(demo_server + "/admin/channels")
        await page.click("a.channel-edit:has-text('SMS на сайте')")
        await expect(page.locator("#f-max_parts")).to_have_value("4")
        await expect(page.locator("#f-api_id")).to_have_value("")
        assert "smsru-api-id-secret" not in await page.content()
        assert await page.evaluate(FITS, 390), "the edit form is wider than the phone"
        await page.fill("#f-max_parts", "3")
        await page.click("#channel-form button.primary")
        row = page.locator("#channels tr", has_text="SMS на сайте")
        await expect(row).to_be_visible()
        await row.locator("button", has_text="Выключить").click()
        row = page.locator("#channels tr", has_text="SMS на сайте")
        await expect(row.locator("button", has_text="Включить")).to_be_visible()
        assert await page.evaluate(FITS, 390), "the channel list is wider than the phone"
        await page.goto(demo_server + "/admin/audit")
        changed = "Изменены настройки канала SMS на сайте: Частей не больше"
        await expect(page.locator("main")).to_contain_text(changed)
        assert refused == []
    finally:
        await context.close()
