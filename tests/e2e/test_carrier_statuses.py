"""An admin edits a carrier's status map in Chromium on a phone (390x844) in Russian, under the pages' CSP:
the rows read as cards without a horizontal scroll, the change is saved and shows in the audit log."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "boss@shop.ru", "boss-password-1"


async def test_admin_edits_a_carrier_map_on_a_phone(browser: Browser, tmp_path: Path) -> None:
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'map.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "e2e-secret-key-0123456789",
    }
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Босс", "--password", PASSWORD, "--role", "admin"),
    ):
        out = cli(env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    server = ServeProcess(env, tmp_path).start()
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ru-RU", is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await page.goto(server.url + "/admin/carrier-statuses")
        await expect(page.locator("h1")).to_have_text("Статусы перевозчиков")
        section = page.locator("#map-russianpost")
        row = section.locator("tr[data-code='8.2']")
        await expect(row.locator("select[name^=step]")).to_have_value("at_pickup")
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
        box = await row.locator("select[name^=target]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        await row.locator("select[name^=target]").select_option("status:ready_for_pickup")
        await row.locator("input[name^=notify]").uncheck()
        await section.locator("button[type=submit]").click()
        await expect(page.locator("#carrier-saved")).to_have_text("Сохранено.")
        saved = page.locator("#map-russianpost tr[data-code='8.2']")
        await expect(saved.locator("select[name^=target]")).to_have_value("status:ready_for_pickup")
        await expect(saved.locator("input[name^=notify]")).not_to_be_checked()
        await page.screenshot(path=shot_path("carrier-statuses-phone"), full_page=True)
        await page.goto(server.url + "/admin/audit")
        await expect(page.locator("body")).to_contain_text("Изменена карта статусов перевозчика russianpost")
        assert violations == []
    finally:
        await context.close()
        server.stop()
