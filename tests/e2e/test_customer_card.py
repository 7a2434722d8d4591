"""The customer card in Chromium: a suggested duplicate merged through the merge page, the preferred channel
changed with htmx, an identity split off again (htmx confirm + redirect)."""

from __future__ import annotations

import re

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from inbox.core.security import hash_password
from inbox.db import SessionFactory, transaction
from inbox.models import Customer, Manager
from inbox.settings import Settings
from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.integration.test_merge_api import seed_people, served

pytestmark = E2E_LOOP


@pytest_asyncio.fixture(loop_scope="session")
async def people(factory: SessionFactory) -> dict[str, int]:
    return await seed_people(factory)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_merge_preferred_channel_and_split_in_the_browser(
    page: Page,
    people: dict[str, int],
    factory: SessionFactory,
    settings: Settings,
) -> None:
    anna, other = people["anna"], people["other"]
    async with transaction(factory) as session:
        session.add(
            Manager(
                email="m@shop.test", name="Мария", password_hash=hash_password("pw-123456789"), locale="en"
            )
        )
    with served(settings) as base:
        await sign_in(page, base, "m@shop.test", "pw-123456789")
        await page.goto(f"{base}/customers/{anna}")
        await expect(page.locator(".suggestion")).to_have_count(1)
        await page.click(".suggestion a.merge")
        await expect(page).to_have_url(re.compile(rf"/customers/{anna}/merge\?other={other}$"))
        await page.check("input[name=choice_name][value=other]")
        await page.click("form button[type=submit].primary")
        await expect(page).to_have_url(f"{base}/customers/{anna}")
        await expect(page.locator(".card-head h2")).to_have_text("Anna S")
        await expect(page.locator(".identity")).to_have_count(2)

        await page.select_option("select[name=channel]", "sms")
        await expect(page.locator("select[name=channel] option[value=sms]")).to_have_attribute("selected", "")
        async with factory() as session:
            row = (await session.execute(select(Customer).where(Customer.id == anna))).scalar_one()
            assert row.preferred_channel == "sms"
        await page.screenshot(path=shot_path("customer-card-merged"))

        page.once("dialog", lambda dialog: dialog.accept())
        await page.click(".identity:has(.ch-sms) button.split")
        await expect(page).not_to_have_url(f"{base}/customers/{anna}")
        await expect(page.locator(".identity")).to_have_count(1)
        await expect(page.locator(".identity .badge")).to_have_text("SMS")
        assert int(page.url.rsplit("/", 1)[1]) not in (anna, other)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_360_card_on_a_phone(
    browser: Browser,
    people: dict[str, int],
    factory: SessionFactory,
    settings: Settings,
) -> None:
    """At 390x844 the card fits the screen (no sideways scroll), the profile saves with the phone in E.164
    and a manager records marketing consent."""
    anna = people["anna"]
    async with transaction(factory) as session:
        session.add(Manager(email="r@shop.test", name="Рита", password_hash=hash_password("pw-123456789")))
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="ru-RU"
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        with served(settings) as base:
            await sign_in(page, base, "r@shop.test", "pw-123456789")
            await page.goto(f"{base}/customers/{anna}")
            await expect(page.locator(".card-figures")).to_contain_text("Сумма покупок")
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"the card scrolls sideways: {width}px"
            await page.fill(".card-profile input[name=phone]", "8 (916) 765-43-21")
            await page.fill(".card-profile input[name=birthday]", "1990-05-17")
            await page.click(".card-profile button[type=submit]")
            await expect(page.locator(".card-profile input[name=phone]")).to_have_value("+79167654321")
            await page.click(".consent[data-channel=telegram] button")
            await expect(page.locator(".consent[data-channel=telegram]")).to_contain_text("согласен")
            await page.screenshot(path=shot_path("customer-card-phone"), full_page=True)
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"the card scrolls sideways: {width}px"
        async with factory() as session:
            row = await session.get(Customer, anna)
            assert row is not None and row.phone == "+79167654321"
    finally:
        await context.close()
