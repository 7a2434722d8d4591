"""The order story in Chromium: a Telegram customer writes; the manager builds an order beside the thread
(stock shown, an out-of-stock attempt refused with the reason, stock changing live), places it, moves it to
"handed to delivery" with a tracking number, and the customer's Telegram gets the notification with the
link."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.e2e.test_telegram_inbox import EMAIL, PASSWORD, Emulator, emulator, prepare, wait_for
from tests.emulators.telegram import text_update, user
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

__all__ = ["emulator"]  # the fixture, shared with the Telegram inbox story
CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "products.csv"
TRACK_URL = "https://www.pochta.ru/tracking?barcode=RA123456789RU"


async def settled(page: Page) -> None:
    """htmx wires up swapped-in content only when it settles (20 ms later): wait for that before typing."""
    await page.wait_for_function(
        # a function, not an expression string: Playwright evals strings, which the pages' CSP refuses
        "() => !document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"
    )


async def test_manager_builds_an_order_and_the_customer_gets_the_tracking_link(
    page: Page, tmp_path: Path, emulator: Emulator
) -> None:
    env = prepare(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'orders.sqlite3'}", emulator)
    imported = cli(env, tmp_path, "catalog", "import", str(CATALOG))
    assert imported.returncode == 0, imported.stderr
    token = cli(env, tmp_path, "token", "create", "--name", "erp").stdout.strip().splitlines()[-1]
    server = ServeProcess(env, tmp_path).start()
    try:
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await expect(page.locator("#live")).to_have_class("live on")
        anna = user(501, "Анна", "Смирнова", username="anna_s", language_code="ru")
        emulator.control("POST", "updates", update=text_update(501, "Хочу белую футболку", sender=anna))
        await page.locator(".thread-item", has_text="Анна Смирнова").locator("a").click()
        panel = page.locator("#order-panel")
        await panel.locator("#order-new").click()
        await expect(panel.locator("#product-q")).to_be_visible()
        await settled(page)

        await panel.locator("#product-q").fill("футболка бел")
        hit = page.locator(".product-hit[data-sku='TS-001']")
        await expect(hit).to_contain_text("25")  # available stock shown in the search
        await settled(page)
        await hit.locator("input[name=qty]").fill("30")
        await hit.locator("button.add").click()
        await expect(panel.locator(".order-error")).to_contain_text("в наличии только 25")
        await settled(page)
        # The hit of the first search is still on the page: wait for this search's answer, or the quantity
        # typed below lands in the old hit just before the new one replaces it (with a quantity of 1).
        async with page.expect_response(lambda r: "/products?" in r.url and "TS-001" in r.url):
            await panel.locator("#product-q").fill("TS-001")
        hit = page.locator(".product-hit[data-sku='TS-001']")
        await expect(hit).to_be_visible()
        await settled(page)
        await hit.locator("input[name=qty]").fill("2")
        await hit.locator("button.add").click()
        line = panel.locator("tr.line[data-sku='TS-001']")
        await expect(line).to_contain_text("23")  # free after the reservation
        await expect(panel.locator(".related")).to_contain_text("Футболка базовая чёрная")
        await settled(page)

        # The ERP counts the warehouse: the panel shows the new free stock without a reload.
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=10) as client:
            synced = await client.put(
                server.url + "/api/v1/stock", json=[{"sku": "TS-001", "on_hand": 12}], headers=auth
            )
        assert synced.status_code == 200 and synced.json()["updated"] == 1
        await expect(line).to_contain_text("10")
        await settled(page)

        await panel.locator("#order-submit").click()
        heading = panel.locator(".order-head h3")
        await expect(heading).to_contain_text("№")
        number = (await heading.inner_text()).split("№")[1].strip()
        await expect(page.locator("#messages .order-event[data-event=created]")).to_contain_text(number)
        await settled(page)

        # A transition the matrix forbids (a stale panel, a crafted request) is refused with the reason.
        await page.evaluate(
            "id => htmx.ajax('POST', '/ui/orders/' + id + '/status', {source: '#order-panel', "
            "target: '#order-panel', swap: 'outerHTML', values: {status: 'delivered'}})",
            await panel.get_attribute("data-order-id"),
        )
        await expect(panel.locator(".order-error")).to_contain_text("«Новый» → «Доставлен» запрещён")
        await expect(panel.locator(".order-head .status")).to_have_attribute("data-status", "new")
        await settled(page)
        for code in ("confirmed", "assembling"):
            await panel.locator("#order-status").select_option(code)
            await panel.locator(".status-form button[type=submit]").click()
            await expect(panel.locator(".order-head .status")).to_have_attribute("data-status", code)
            await settled(page)
        await panel.locator("select[name=carrier]").select_option("russian_post")
        await panel.locator("#tracking-number").fill("RA123456789RU")
        await panel.locator(".tracking button[type=submit]").click()
        await expect(panel.locator(".tracking a")).to_have_attribute("href", TRACK_URL)
        await settled(page)
        await panel.locator("#order-status").select_option("handed_to_delivery")
        await panel.locator(".status-form button[type=submit]").click()
        await expect(panel.locator(".order-head .status")).to_have_attribute(
            "data-status", "handed_to_delivery"
        )
        await expect(page.locator("#messages .order-event[data-event=tracking]")).to_contain_text(
            "RA123456789RU"
        )

        def shipped() -> list[dict[str, object]]:
            return [r for r in emulator.sends() if "передан в доставку" in str(r["params"].get("text"))]

        sent = wait_for(shipped)
        params = sent[0]["params"]
        assert isinstance(params, dict) and TRACK_URL in params["text"] and params["chat_id"] == 501
        markup = params["reply_markup"]
        markup = json.loads(markup) if isinstance(markup, str) else markup
        assert markup["inline_keyboard"][0][0]["url"] == TRACK_URL
        notice = page.locator("#messages .msg.out", has_text="передан в доставку")
        await expect(notice.locator(".delivery")).to_contain_text("отправлено")
        await page.screenshot(path=shot_path("order-panel-handed-to-delivery"))
        assert len(shipped()) == 1

        # The status configuration (TOML) is for administrators; it is validated before it is saved.
        refused = await page.goto(server.url + "/admin/order-statuses")
        assert refused is not None and refused.status == 403
        made = cli(env, tmp_path, "manager", "create", "--email", "boss@shop.ru", "--name", "Босс")
        assert made.returncode != 0  # a password is required
        made = cli(
            env,
            tmp_path,
            "manager",
            "create",
            "--email",
            "boss@shop.ru",
            "--name",
            "Босс",
            "--password",
            "boss-password-1",
            "--role",
            "admin",
        )
        assert made.returncode == 0, made.stderr
        await page.context.clear_cookies()
        await sign_in(page, server.url, "boss@shop.ru", "boss-password-1")
        await page.goto(server.url + "/admin/order-statuses")
        toml = page.locator("textarea[name=toml]")
        text = await toml.input_value()
        assert 'code = "handed_to_delivery"' in text
        await toml.fill(
            text.replace('transitions = ["confirmed", "cancelled"]', 'transitions = ["ghost"]', 1)
        )
        await page.click("#toml-form button[type=submit]")
        await expect(page.locator("#statuses-error")).to_contain_text("ghost")
        await toml.fill(text)
        await page.click("#toml-form button[type=submit]")
        await expect(page.locator("#statuses-saved")).to_be_visible()
    finally:
        server.stop()
