"""Issue 3's story in Chromium: one customer across Telegram, SMS and VK.

A customer writes from Telegram and shares their phone; later an SMS comes from that phone: one thread.
A VK customer with the same name is a suggestion, merged by the manager: one thread. The manager's answer
goes to the preferred channel; a blocked Telegram bot falls back to SMS, and the thread says so. Bots are on
(the default): the bot answers on each channel (not the shared contact) until the manager writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, expect

from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.emulators.sms import SMSEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, contact_update, text_update, user
from tests.emulators.vk import VKEmulator, message, message_new
from tests.server import ServeProcess, cli
from tests.services import free_port

pytestmark = E2E_LOOP

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"
PHONE = "+79161234567"


@pytest_asyncio.fixture(loop_scope="session")
async def emulators() -> AsyncIterator[tuple[TelegramEmulator, SMSEmulator, VKEmulator]]:
    tg, vk = TelegramEmulator(), VKEmulator(group_id=77)
    await tg.start()
    await vk.start()
    sms = SMSEmulator().start()
    try:
        yield tg, sms, vk
    finally:
        sms.stop()
        await vk.stop()
        await tg.stop()


async def test_one_customer_across_telegram_sms_and_vk(
    page: Page, tmp_path: Path, emulators: tuple[TelegramEmulator, SMSEmulator, VKEmulator]
) -> None:
    tg, sms, vk = emulators
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "one-customer-secret-0123456789",
        "INBOX_PUBLIC_URL": base,
    }
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        ("channel", "add", "telegram", "--name", "tg", "--token", DEFAULT_TOKEN, "--api-base", tg.base_url),
        (
            "channel",
            "add",
            "sms",
            "--name",
            "sms",
            "--provider",
            "twilio",
            "--from",
            "+15005550006",
            "--account-sid",
            sms.twilio_sid,
            "--auth-token",
            sms.twilio_token,
            "--api-base",
            sms.base_url,
            "--public-url",
            base,
        ),
        (
            "channel",
            "add",
            "vk",
            "--name",
            "vk",
            "--token",
            "vk1.a." + "x" * 40,
            "--group-id",
            "77",
            "--mode",
            "callback",
            "--confirmation",
            "c0nf1rm",
            "--secret",
            "vk-secret",
            "--api-base",
            vk.base_url,
        ),
    ):
        out = await asyncio.to_thread(cli, env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    server = await asyncio.to_thread(ServeProcess(env, tmp_path, port=port).start)
    try:
        await sign_in(page, base, EMAIL, PASSWORD)
        anna = user(501, "Анна", "Смирнова", username="anna_s", language_code="ru")
        tg.queue_update(text_update(501, "Здравствуйте! Это Анна.", sender=anna))
        tg.queue_update(contact_update(501, "79161234567", sender=anna))
        item = page.locator(".thread-item", has_text="Анна Смирнова")
        await expect(item).to_have_count(1)

        fired = await asyncio.to_thread(
            sms.fire_twilio_inbound,
            f"{base}/webhooks/sms/2",
            sender=PHONE,
            to="+15005550006",
            body="Пишу по SMS: где заказ?",
        )
        assert fired.status == 200, fired.body
        await expect(item.locator(".badge.ch-sms")).to_be_visible()  # the same thread, now with SMS
        await expect(page.locator(".thread-item")).to_have_count(1)

        vk.add_user(3001, "Анна", "Смирнова")
        attempts = await vk.post_callback(
            f"{base}/webhooks/vk/3",
            message_new(77, message(3001, "Привет из VK", cmid=1)),
            secret="vk-secret",
        )
        assert attempts[-1] == (200, "ok")
        await expect(page.locator(".thread-item")).to_have_count(2)  # an unverified match is not merged

        # the preview is the bot's answer now: the thread with the SMS badge is the merged one
        await page.locator(".thread-item", has=page.locator(".badge.ch-sms")).locator("a").click()
        await page.click("#thread .customer-link")
        suggestion = page.locator(".suggestion")
        await expect(suggestion).to_have_count(1)
        await suggestion.locator("a.merge").click()
        await page.click("form button[type=submit]")
        await expect(page.locator(".customer-card")).to_contain_text("VK")
        await page.click("text=Открыть диалог")
        await expect(page.locator(".thread-item")).to_have_count(1)
        msgs = page.locator("#messages .msg.in .text")
        await expect(msgs).to_have_text(
            [
                "Здравствуйте! Это Анна.",
                "[contact] Анна Смирнова +79161234567",
                "Пишу по SMS: где заказ?",
                "Привет из VK",
            ],
            timeout=15_000,
        )

        # The bot answered once on every channel (Telegram: the greeting; a shared contact is no question).
        await expect(page.locator('#messages .msg.out[data-delivery="sent"]')).to_have_count(3)
        assert len(tg.requests("sendMessage")) == 1 and len(vk.sent) == 1
        assert [s["to"] for s in sms.sent] == [PHONE]
        bot_sms = len(sms.sent)

        # The answer goes to the preferred channel: with no explicit choice, the channel of the latest inbound
        # message (SMS; the VK message is dated a day earlier).
        await expect(page.locator("#reply-form select[name=channel]")).to_have_value("sms")
        await page.fill("#reply-form textarea", "Здравствуйте! " * 6)  # 84 Cyrillic characters: two SMS parts
        await expect(page.locator("#sms-count")).to_contain_text("2 SMS")
        await expect(page.locator("#sms-count")).to_contain_text("UCS-2")
        await page.select_option("#reply-form select[name=channel]", "telegram")
        tg.fail("sendMessage", "blocked")
        await page.fill("#reply-form textarea", "Анна, заказ 1042 в пути")
        await page.click("#reply-form button[type=submit]")
        fallback = page.locator("#messages .msg.event").last
        await expect(fallback).to_contain_text("Доставка через Telegram не удалась; отправлено через SMS.")
        failed = page.locator("#messages .msg.out.failed")
        await expect(failed).to_have_count(1)
        await expect(failed.locator("button.retry")).to_have_count(
            0
        )  # settled by the fallback: no double send
        last_out = page.locator("#messages .msg.out:not(.failed)", has_text="Анна, заказ 1042 в пути")
        await expect(last_out).to_have_count(1)
        await expect(last_out.locator(".badge")).to_have_text("SMS")
        await expect(last_out.locator(".delivery")).to_contain_text("отправлено")
        assert [(s["body"], s["to"]) for s in sms.sent[bot_sms:]] == [("Анна, заказ 1042 в пути", PHONE)]
        await page.screenshot(path=shot_path("one-customer-fallback"))
    finally:
        await asyncio.to_thread(server.stop)
