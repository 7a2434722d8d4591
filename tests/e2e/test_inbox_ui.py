"""The inbox's own screens in Chromium on the demo shop (one shared `inbox serve`, each test in its own
conversation): shortcuts on the Russian keyboard layout with an undo for closing, the notifications
dropdown really shown, and no Content-Security-Policy violation on the main pages."""

from __future__ import annotations

from playwright.async_api import Page, Route, expect

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.conftest import shot_path, sign_in

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
    await press_russian(page, "с", "KeyC")  # "c": close
    await expect(head).to_have_attribute("data-status", "closed")
    toast = page.locator("#toast")
    await expect(toast).to_be_visible()
    await expect(toast).to_contain_text("Диалог закрыт")
    await page.screenshot(path=shot_path("inbox-undo-close"))
    await toast.get_by_role("button", name="Отменить").click()
    await expect(head).to_have_attribute("data-status", "open")
    await expect(toast).to_be_hidden()
    await press_russian(page, "т", "KeyN")  # "n": note
    await expect(page.locator("#note-form textarea")).to_be_focused()


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
    """Offline (every other host refused), the API docs still render: the assets come from us."""
    elsewhere: list[str] = []

    async def only_ours(route: Route) -> None:
        if route.request.url.startswith(demo_server):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_ours)
    await page.goto(demo_server + "/api/schema/swagger")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("inbox API")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert elsewhere == []
    await page.screenshot(path=shot_path("swagger-offline"))
