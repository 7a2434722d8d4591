"""The inbox's own screens in Chromium on the demo shop (one shared `inbox serve`, each test in its own
conversation): shortcuts on the Russian keyboard layout with an undo for closing, the notifications
dropdown really shown, and no Content-Security-Policy violation on the main pages."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, Route, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in

pytestmark = E2E_LOOP

RUSSIAN_KEY = """([key, code]) => document.body.dispatchEvent(
    new KeyboardEvent("keydown", {key: key, code: code, bubbles: true}))"""


async def press_russian(page: Page, key: str, code: str) -> None:
    """A key as the Russian layout sends it: the letter differs from the Latin one, the key code does not."""
    await page.evaluate(RUSSIAN_KEY, [key, code])


async def test_shortcuts_work_on_the_russian_layout_and_closing_can_be_undone(
    page: Page, demo_server: str
) -> None:
    await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
    await page.locator(".thread-item", has_text="Игорь Петров").locator("a").click()
    head = page.locator("#thread-head")
    await expect(head.locator("h2")).to_have_text("Игорь Петров")
    await press_russian(page, "ф", "KeyA")  # "a": assign to me
    await expect(page.locator("#assign-form select")).to_have_value("1")
    await settled(page)  # the swapped-in head is wired by htmx only when it settles
    await press_russian(page, "с", "KeyC")  # "c": close
    toast = page.locator("#toast")
    await expect(toast).to_be_visible()
    await expect(toast).to_contain_text("Диалог закрыт")
    await expect(head).to_have_attribute("data-status", "closed")
    await toast.get_by_role("button", name="Отменить").click()  # at once: the toast lives a few seconds
    await expect(head).to_have_attribute("data-status", "open")
    await expect(toast).to_be_hidden()
    await settled(page)
    await press_russian(page, "т", "KeyN")  # "n": note
    await expect(page.locator("#note-form textarea")).to_be_focused()
    await page.locator("#note-form textarea").blur()
    await press_russian(page, "с", "KeyC")
    await expect(toast).to_be_visible()
    await page.screenshot(path=shot_path("inbox-undo-close"))


HIT_TEST = """(sel) => {
    const el = document.querySelector(sel);
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height - 2, 40));
    return !!hit && el.contains(hit);
}"""


async def test_notifications_dropdown_is_shown_over_the_page(page: Page, demo_server: str) -> None:
    await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
    await page.locator("#notif-bell summary").click()
    menu = page.locator(".notif-menu")
    await expect(menu).to_contain_text("Прочитать все")
    # visible to a person: the menu itself is what sits under its middle, not something that clips it
    assert await page.evaluate(HIT_TEST, ".notif-menu")
    await page.screenshot(path=shot_path("inbox-notifications-open"))


async def test_swagger_ui_loads_its_assets_from_our_server_only(page: Page, demo_server: str) -> None:
    """Offline (every other host refused), the API docs still render: the assets come from us, and the
    page runs under the app's Content-Security-Policy with nothing refused."""
    elsewhere: list[str] = []

    async def only_ours(route: Route) -> None:
        if route.request.url.startswith(demo_server):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    await page.route("**/*", only_ours)
    answer = await page.goto(demo_server + "/api/schema/swagger")
    assert answer is not None and "script-src 'self'" in answer.headers["content-security-policy"]
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("inbox API")
    await expect(page.locator(".opblock").first).to_be_visible()
    await page.locator(".opblock-summary").first.click()  # an operation opens: the UI is live, not just drawn
    await expect(page.locator(".opblock-body").first).to_be_visible()
    assert elsewhere == []
    assert violations == []
    await page.screenshot(path=shot_path("swagger-offline"))


# against the screen's width, not innerWidth: a mobile viewport widens itself to fit what overflows
NO_SIDEWAYS_SCROLL = "(width) => document.documentElement.scrollWidth <= width"
SCREEN = 390  # the phone's width


async def settled(page: Page) -> None:
    """htmx wires swapped-in content when it settles: wait for that before the next step."""
    await page.wait_for_function(
        # a function, not an expression string: Playwright evals strings, which the pages' CSP refuses
        "() => !document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')"
    )


async def within_screen(page: Page, selector: str) -> None:
    box = await page.locator(selector).bounding_box()
    width = await page.evaluate("() => window.innerWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


async def test_a_manager_works_the_inbox_on_a_phone(
    browser: Browser, demo_server: str, tmp_path: Path
) -> None:
    """390×844: read the list, open a thread, answer, attach a file, add a note, change an order status."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ru-RU", is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
        item = page.locator(".thread-item", has_text="Олег")
        await expect(item).to_be_visible()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL, SCREEN)
        await page.screenshot(path=shot_path("phone-1-list"))

        await item.locator("a").click()
        await expect(page.locator("#thread-head h2")).to_have_text("Олег")
        await expect(page.locator("#thread-list")).to_be_hidden()  # the conversation takes the screen
        await expect(page.locator("#reply-text")).to_be_visible()
        await within_screen(page, "#reply-form button[type=submit]")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL, SCREEN)
        await page.screenshot(path=shot_path("phone-2-thread"))

        await settled(page)
        await page.fill("#reply-text", "Да, работаем с 10 до 20. Ждём вас!")
        await page.click("#reply-form button[type=submit]")
        await expect(page.locator("#messages .msg.out").last).to_contain_text("работаем с 10 до 20")

        receipt = tmp_path / "схема-проезда.txt"
        receipt.write_text("Как нас найти", encoding="utf-8")
        picked = page.locator("#reply-form .file-pick-name")
        await expect(picked).to_have_text("Файл не выбран")  # our button, not the browser's "No file chosen"
        await page.set_input_files("#reply-form input[type=file]", str(receipt))
        await expect(picked).to_have_text("схема-проезда.txt")
        await page.click("#reply-form button[type=submit]")
        await expect(page.locator("#messages .msg.out .file").last).to_contain_text("txt")
        await expect(picked).to_have_text("Файл не выбран")  # the sent file is gone from the box
        await page.screenshot(path=shot_path("phone-3-answered"))

        await page.click("#tab-note")
        await page.fill("#note-form textarea", "Придёт завтра за заказом")
        await within_screen(page, "#note-form button[type=submit]")
        await page.click("#note-form button[type=submit]")
        await expect(page.locator("#messages .msg.note").last).to_contain_text("Придёт завтра")
        await page.screenshot(path=shot_path("phone-4-note"))

        await page.click("#show-side")
        panel = page.locator("#order-panel")
        await expect(page.locator("#thread")).to_be_hidden()
        # Олег paid a demo order through a payment link: the panel shows it, and a second order starts
        # from the customer's orders below it.
        await expect(panel.locator(".order-head h3")).to_contain_text("№")
        await panel.locator("#order-another").click()
        await expect(panel.locator("#product-q")).to_be_visible()
        await settled(page)
        await panel.locator("#product-q").fill("TS-002")
        hit = page.locator(".product-hit[data-sku='TS-002']")
        await expect(hit).to_be_visible()
        await settled(page)
        await hit.locator("button.add").click()
        await expect(panel.locator("tr.line[data-sku='TS-002']")).to_be_visible()
        await settled(page)
        await panel.locator("#order-submit").click()
        await expect(panel.locator("#order-current-status")).to_have_text("Новый")
        await settled(page)
        await within_screen(page, "#order-status")
        await panel.locator("#order-status").select_option("confirmed")
        await panel.locator(".status-form button[type=submit]").click()
        await expect(panel.locator("#order-current-status")).to_have_text("Подтверждён")
        await expect(panel.locator(".history-list")).to_contain_text("Новый → Подтверждён")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL, SCREEN)
        await page.screenshot(path=shot_path("phone-5-order-status"), full_page=True)

        await page.click(".phone-tab[data-show=thread]")
        await expect(page.locator("#messages .order-event").last).to_contain_text("Подтверждён")
        await page.click(".phone-tabs .back")
        await expect(page.locator("#thread-list")).to_be_visible()

        await page.click("#menu-toggle")  # the header's second-rank items fold into a menu
        await expect(page.locator("header.top .tools")).to_be_visible()
        await page.screenshot(path=shot_path("phone-6-menu"))
    finally:
        await context.close()


async def test_the_desktop_layout_shows_list_thread_and_panel_side_by_side(
    browser: Browser, demo_server: str
) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    try:
        await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
        await page.locator(".thread-item", has_text="Анна Смирнова").locator("a").click()
        await expect(page.locator("#thread-head h2")).to_have_text("Анна Смирнова")
        for selector in ("#thread-list", "#messages", "#reply-text", "#order-panel", "header.top .tools"):
            await expect(page.locator(selector)).to_be_visible()
        await expect(page.locator("#menu-toggle")).to_be_hidden()
        await expect(page.locator(".phone-tabs")).to_be_hidden()
        # The order panel loads after the thread and is swapped whole (live updates too), so its box is
        # read in the page, in one go, once the loaded panel is there.
        await expect(page.locator("#order-panel:not(.loading)")).to_be_visible()
        await page.wait_for_function(
            """() => {
                const list = document.querySelector('#thread-list')?.getBoundingClientRect();
                const panel = document.querySelector('#order-panel')?.getBoundingClientRect();
                return !!list && !!panel && panel.width > 0 && list.right <= panel.left;
            }"""
        )
        assert await page.evaluate(NO_SIDEWAYS_SCROLL, 1440)
        await page.screenshot(path=shot_path("desktop-1440-thread"))
    finally:
        await context.close()


async def test_mention_autocomplete_in_the_note_box(page: Page, demo_server: str) -> None:
    await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
    await page.locator(".thread-item", has_text="Мария Кузнецова").locator("a").click()
    await expect(page.locator("#thread-head h2")).to_have_text("Мария Кузнецова")
    await page.click("#tab-note")
    await page.locator("#note-text").press_sequentially("Проверь, @Адм")
    menu = page.locator("#mention-menu")
    await expect(menu.locator(".mention-item")).to_have_count(1)
    await expect(menu).to_contain_text("@admin Администратор")
    await page.keyboard.press("Enter")
    await expect(page.locator("#note-text")).to_have_value("Проверь, @admin ")
    await expect(menu).to_be_hidden()


MAIN_PAGES = (
    "/",
    "/?view=waiting",
    "/canned",
    "/labels",
    "/notifications",
    "/dashboard",
    "/search?q=Анна",
    "/admin/managers",
    "/admin/channels",
    "/admin/team",
    "/admin/audit",
    "/admin/order-statuses",
    "/admin/carrier-statuses",
    "/admin/custom-fields",
    "/admin/rules",
    "/admin/sales",
    "/tasks",
    "/segments",
    "/segments/new",
    "/broadcasts",
    "/broadcasts/new",
    "/carts",
    "/demo/customer",
)


async def test_main_pages_run_under_the_content_security_policy(page: Page, demo_server: str) -> None:
    """Every main page carries the policy, and nothing on it (scripts, htmx, handlers) is refused by it."""
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    login = await page.goto(demo_server + "/login")
    assert login is not None and "script-src 'self'" in (login.headers.get("content-security-policy") or "")
    await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
    for path in MAIN_PAGES:
        response = await page.goto(demo_server + path)
        assert response is not None and response.status == 200, path
        policy = response.headers.get("content-security-policy") or ""
        for directive in (
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'self'",
        ):
            assert directive in policy, (path, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # what the moved handlers do still works: a filter select submits, the customer's page, a note clears
    await page.goto(demo_server + "/")
    await page.select_option("#filters select[name=status]", "open")
    await expect(page).to_have_url(re.compile(r"status=open"))
    await page.locator(".thread-item", has_text="Анна Смирнова").locator("a").click()
    await expect(page.locator("#thread-head h2")).to_have_text("Анна Смирнова")
    await page.click("#tab-note")
    await page.fill("#note-text", "Проверить оплату")
    await page.click("#note-form button[type=submit]")
    await expect(page.locator("#messages .msg.note").last).to_contain_text("Проверить оплату")
    await expect(page.locator("#note-text")).to_have_value("")
    await page.click("#thread-head h2 a")
    await expect(page.locator("#customer-card")).to_be_visible()
    assert violations == []


async def test_every_main_page_fits_a_phone_screen(browser: Browser, demo_server: str) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ru-RU", is_mobile=True
    )
    page = await context.new_page()
    try:
        await sign_in(page, demo_server, DEMO_EMAIL, DEMO_PASSWORD)
        wide = []
        for path in MAIN_PAGES:
            await page.goto(demo_server + path)
            if not await page.evaluate(NO_SIDEWAYS_SCROLL, SCREEN):
                wide.append(path)
                await page.screenshot(path=shot_path("phone-too-wide" + path.replace("/", "-").split("?")[0]))
        assert wide == []
        await page.goto(demo_server + "/admin/order-statuses")
        await page.screenshot(path=shot_path("phone-order-statuses"), full_page=True)
    finally:
        await context.close()
