"""Repeat sales in Chromium, in the default configuration (bots on), against `inbox serve` and the Telegram
emulator: a manager builds a segment (the member count updates while editing), sends a broadcast to it, a
customer answers «стоп», and the next broadcast goes to everybody else but not to them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.e2e.test_telegram_inbox import Emulator, emulator, wait_for  # noqa: F401  (fixture)
from tests.emulators.telegram import DEFAULT_TOKEN, text_update, user
from tests.sales_world import api_client, noon_zone
from tests.server import ServeProcess, cli

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"


def texts_to(emu: Emulator, chat_id: int) -> list[str]:
    return [
        str(r["params"].get("text", ""))
        for r in emu.sends()
        if r["params"].get("chat_id") == chat_id and not r.get("fault")
    ]


async def test_segment_broadcast_and_stop(page: Page, tmp_path: Path, emulator: Emulator) -> None:  # noqa: F811
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "e2e-secret-key-0123456789",
        "INBOX_TIMEZONE": noon_zone(),  # the shop's quiet hours (21-09) never hold this broadcast
    }
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD, "--role", "admin"),
        (
            "channel",
            "add",
            "telegram",
            "--name",
            "shop",
            "--token",
            DEFAULT_TOKEN,
            "--api-base",
            emulator.url,
        ),
    ):
        out = cli(env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    token = cli(env, tmp_path, "token", "create", "--name", "e2e").stdout.strip().splitlines()[-1]
    server = ServeProcess(env, tmp_path).start()
    try:
        api = api_client(server.url, {"Authorization": f"Bearer {token}"})
        for uid, first in ((501, "Анна"), (502, "Борис")):
            emulator.control(
                "POST",
                "updates",
                update=text_update(uid, "Здравствуйте", sender=user(uid, first, "Т", language_code="ru")),
            )

        def customers() -> dict[int, Any] | None:
            items = api.get("/api/v1/threads").json()["items"]
            return {t["customer_name"]: t["customer_id"] for t in items} if len(items) == 2 else None

        ids = wait_for(customers)
        for cid in ids.values():  # consent collected, e.g. by the shop's site, through the API
            r = api.put(
                f"/api/v1/customers/{cid}/consent",
                json={"channel": "telegram", "marketing": True, "source": "api"},
            )
            assert r.status_code == 200, r.text

        violations: list[str] = []  # the pages run under script-src 'self': nothing may be refused
        page.on(
            "console",
            lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        page.on("pageerror", lambda exc: violations.append(str(exc)))
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await page.goto(server.url + "/segments/new")
        await page.fill("input[name=name]", "Телеграм")
        row = page.locator("#condition-rows .condition").first
        await row.locator("select[name=field]").select_option("channel")
        await row.locator("select[name=op]").select_option("is")
        await row.locator("input[name=value]").fill("telegram")
        await expect(page.locator("#segment-count")).to_contain_text("Клиентов в сегменте: 2")
        await page.click("[data-condition-add]")  # a second row (sales.js), then removed again
        await expect(page.locator("#condition-rows .condition")).to_have_count(2)
        await page.locator("#condition-rows .condition").last.locator("[data-condition-remove]").click()
        await expect(page.locator("#condition-rows .condition")).to_have_count(1)
        await page.screenshot(path=shot_path("segment-editor"))
        await page.click("#segment-form button.primary")
        await expect(page).to_have_url(re.compile(r"/segments/\d+$"))
        segment_id = page.url.rsplit("/", 1)[1]

        await page.goto(f"{server.url}/broadcasts/new?segment={segment_id}")
        await page.fill("textarea[name=text]", "Скидка 10% на всё до воскресенья")
        await page.click("#broadcast-form button.primary")
        await expect(page).to_have_url(re.compile(r"/broadcasts/\d+$"))
        for uid in (501, 502):
            wait_for(
                lambda uid=uid: any(t.startswith("Скидка 10%") for t in texts_to(emulator, uid)), timeout=40
            )
        sent = [r for r in emulator.sends() if str(r["params"].get("text", "")).startswith("Скидка 10%")]
        assert len(sent) == 2  # one copy each
        assert "Отписаться" in str(sent[0]["params"].get("reply_markup"))

        emulator.control(
            "POST",
            "updates",
            update=text_update(501, "стоп", sender=user(501, "Анна", "Т", language_code="ru")),
        )
        wait_for(lambda: any("отписаны" in t for t in texts_to(emulator, 501)), timeout=40)
        await page.reload()
        await expect(page.locator(".n-unsubscribed")).to_have_text("1")

        await page.goto(f"{server.url}/broadcasts/new?segment={segment_id}")
        await page.fill(
            "textarea[name=text]", "Новая коллекция уже в продаже: https://shop.example/catalog/new-arrivals"
        )
        await page.click("#broadcast-form button.primary")
        await expect(page).to_have_url(re.compile(r"/broadcasts/\d+$"))
        wait_for(lambda: any(t.startswith("Новая коллекция") for t in texts_to(emulator, 502)), timeout=40)
        await page.reload()
        await expect(page.locator(".n-skipped-no_consent")).to_have_text("1")
        await expect(page.locator(".n-queued")).to_have_text("1")
        assert not any(t.startswith("Новая коллекция") for t in texts_to(emulator, 501))
        await page.screenshot(path=shot_path("broadcast-stats"))
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(server.url + "/segments")
        await expect(page.locator("#segment-" + segment_id + " .count")).to_have_text("2")
        await page.screenshot(path=shot_path("segments-phone"))
        # the broadcasts list stacks its rows as cards on a phone: the state column is on the screen, not
        # scrolled off to the right of the table's box
        await page.goto(server.url + "/broadcasts")
        state = page.locator("table.broadcasts tr", has_text="Новая коллекция").locator("td.state")
        await expect(state).to_be_visible()
        box = await state.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, f"off screen: {box}"
        await page.screenshot(path=shot_path("broadcasts-phone"))
        assert violations == []
    finally:
        server.stop()
