"""Team work in Chromium against `inbox serve`: assignment, a note with a mention (the colleague's bell
updates live), a canned reply with placeholders via "/", keyboard shortcuts, search with a highlighted hit
that opens the message in its thread, and the dashboard's charts (screenshots under test-artifacts/)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP


async def test_team_workflow(page: Page, browser: Browser, tmp_path: Path) -> None:
    db = tmp_path / "team.sqlite3"
    env = {"INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "INBOX_DATA_DIR": str(tmp_path / "data")}
    assert cli(env, tmp_path, "db", "upgrade").returncode == 0
    assert cli(env, tmp_path, "demo").returncode == 0
    made = cli(
        env,
        tmp_path,
        "manager",
        "create",
        "--email",
        "olga@shop.example",
        "--name",
        "Ольга",
        "--password",
        "olga-password",
    )
    assert made.returncode == 0, made.stderr
    server = ServeProcess(env, tmp_path).start()
    olga_ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    olga = await olga_ctx.new_page()
    olga.set_default_timeout(15_000)
    try:
        await sign_in(olga, server.url, "olga@shop.example", "olga-password")
        await expect(olga.locator("#live")).to_have_class("live on")

        # assignment: to me, then to a colleague
        await sign_in(page, server.url, DEMO_EMAIL, DEMO_PASSWORD)
        await expect(page.locator("#live")).to_have_class("live on")
        await page.click("text=Анна Смирнова")
        await expect(page.locator("#thread .thread-head h2")).to_have_text("Анна Смирнова")
        await page.keyboard.press("a")  # shortcut: assign to me
        await expect(page.locator("#assign-form select")).to_have_value("1")
        await expect(page.locator("#t-1 .assignee")).to_have_text("Администратор")
        await page.select_option("#assign-form select", label="Ольга")
        await expect(page.locator("#t-1 .assignee")).to_have_text("Ольга")
        await expect(olga.locator("#notif-count")).to_have_text("1")  # live, over SSE

        # a private note with a mention
        await page.keyboard.press("n")
        await expect(page.locator("#note-form textarea")).to_be_focused()
        await page.keyboard.type("@olga проверь оплату")
        await page.click("#note-form button[type=submit]")
        note = page.locator("#messages .msg.note").last
        await expect(note.locator(".text")).to_have_text("@olga проверь оплату")
        await expect(olga.locator("#notif-count")).to_have_text("2")
        await olga.click("#notif-bell summary")
        await expect(olga.locator(".notif.k-mention")).to_contain_text("проверь оплату")

        # a canned reply with placeholders, inserted with "/"
        await page.goto(server.url + "/canned")
        await page.fill("#canned-form input[name=shortcut]", "track")
        await page.fill("#canned-form input[name=title]", "Трек")
        await page.fill(
            "#canned-form textarea[name=body]", "{customer.name}, пишет {manager.name}. Заказ {order.number}"
        )
        await page.click("#canned-form button")
        await expect(page.locator("table.grid")).to_contain_text("/track")
        await page.goto(server.url + "/threads/1")
        await page.keyboard.press("r")
        await expect(page.locator("#reply-form textarea")).to_be_focused()
        await page.keyboard.type("/tr")
        await expect(page.locator("#canned-menu .canned-item")).to_have_count(1)
        await page.keyboard.press("Enter")
        await expect(page.locator("#reply-form textarea")).to_have_value(
            "Анна Смирнова, пишет Администратор. Заказ 1002"  # her latest order in the demo shop
        )
        await page.click("#reply-form button[type=submit]")
        last = page.locator("#messages .msg.out").last
        await expect(last.locator(".text")).to_have_text("Анна Смирнова, пишет Администратор. Заказ 1002")
        await page.screenshot(path=shot_path("team-thread-ru"))

        # presence: a colleague opens the same thread, then types (no reload on either side)
        await olga.goto(server.url + "/threads/1")
        await expect(page.locator("#presence-line")).to_contain_text("Ольга")
        await expect(page.locator("#presence-line")).to_contain_text("смотрит")
        await olga.click("#reply-form textarea")
        await olga.keyboard.type("Сейчас уточню")
        await expect(page.locator("#presence-line")).to_contain_text("печатает")

        # keyboard help overlay
        await page.locator("body").click(position={"x": 5, "y": 790})
        await page.keyboard.press("?")
        await expect(page.locator("#help")).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(page.locator("#help")).to_be_hidden()

        # search: highlighted hit, opens the message in its thread
        await page.fill(".search-box input", "трек")
        await page.keyboard.press("Enter")
        hit = page.locator(".hits.messages .hit").first
        await expect(hit.locator("mark").first).to_be_visible()
        await page.screenshot(path=shot_path("team-search-ru"))
        href = await hit.locator("a").get_attribute("href")
        assert href and "#msg-" in href
        await hit.locator("a").click()
        await expect(page.locator(".msg.found")).to_have_count(1)
        assert await page.locator(".msg.found").get_attribute("id") == href.split("#")[1]

        # dashboard: server-rendered SVG charts
        waiting = await page.locator("#count-waiting").text_content()
        assert waiting and waiting != "0"
        await page.goto(server.url + "/dashboard")
        await expect(page.locator("svg.chart")).to_have_count(5)
        # the views' numbers in the header are the inbox's, loaded after the page (not a made-up 0)
        await expect(page.locator("#count-waiting")).to_have_text(waiting)
        await expect(page.locator("#chart-messages polyline.series").first).to_be_visible()
        await expect(page.locator("#chart-first_response rect.bar").first).to_be_attached()
        await page.screenshot(path=shot_path("team-dashboard-ru"), full_page=True)
    finally:
        await olga_ctx.close()
        server.stop()
