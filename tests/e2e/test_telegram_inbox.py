"""The issue's end-to-end story in Chromium: a Telegram customer writes, the manager sees it arrive live,
answers with text and a file, watches the delivery mark, and retries a failed send. Also: a crash between
commit and send loses nothing and doubles nothing. Bots are on (the default): the bot greets the customer
and answers until the manager writes, then stays quiet; the manager's messages are told by their text."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import E2E_LOOP, shot_path, sign_in
from tests.emulators.telegram import DEFAULT_TOKEN, text_update, user
from tests.server import ServeProcess, cli
from tests.services import free_port

EMAIL, PASSWORD = "olga@shop.ru", "olga-password-1"


class Emulator:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulators.telegram", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY"), line

    def control(self, verb: str, path: str, **body: Any) -> Any:
        r = httpx.request(verb, self.url + "/_control/" + path, json=body or None, timeout=10)
        r.raise_for_status()
        return r.json()

    def sends(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        reqs: list[dict[str, Any]] = self.control("GET", f"requests?method={method}")["requests"]
        return reqs

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    try:
        yield emu
    finally:
        emu.stop()


def prepare(tmp_path: Path, db_url: str, emu: Emulator) -> dict[str, str]:
    env = {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "e2e-secret-key-0123456789",
        "INBOX_OUTBOX_BACKOFF_CAP": "2",
    }
    for args in (
        ("db", "upgrade"),
        ("manager", "create", "--email", EMAIL, "--name", "Ольга", "--password", PASSWORD),
        ("channel", "add", "telegram", "--name", "shop", "--token", DEFAULT_TOKEN, "--api-base", emu.url),
    ):
        out = cli(env, tmp_path, *args)
        assert out.returncode == 0, out.stderr
    return env


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@E2E_LOOP
async def test_customer_writes_manager_answers_live(page: Page, tmp_path: Path, emulator: Emulator) -> None:
    env = prepare(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'e2e.sqlite3'}", emulator)
    server = ServeProcess(env, tmp_path).start()
    try:
        await sign_in(page, server.url, EMAIL, PASSWORD)
        await expect(page.locator("#live")).to_have_class("live on")
        await expect(page.locator(".thread-item")).to_have_count(0)

        anna = user(501, "Анна", "Смирнова", username="anna_s", language_code="ru")
        emulator.control(
            "POST", "updates", update=text_update(501, "Здравствуйте! Где мой заказ?", sender=anna)
        )
        item = page.locator(".thread-item", has_text="Анна Смирнова")
        await expect(item).to_be_visible()  # arrived live, without reloading
        await expect(item.locator(".unread-count")).to_have_text("1")
        await item.locator("a").click()
        await expect(page.locator("#messages .msg.in .text")).to_have_text("Здравствуйте! Где мой заказ?")

        emulator.control("POST", "updates", update=text_update(501, "<script>alert(1)</script>", sender=anna))
        await expect(page.locator("#messages .msg.in .text").last).to_have_text("<script>alert(1)</script>")
        # The bot answers each of the customer's two messages (a greeting, then its menu), live in the thread.
        bot = [r["params"] for r in wait_for(lambda: len(emulator.sends()) >= 2 and emulator.sends())]
        assert len(bot) == 2 and all(p["chat_id"] == 501 for p in bot)
        bot_out = page.locator("#messages .msg.out")
        await expect(bot_out).to_have_count(2)
        for params, shown in zip(bot, [bot_out.first, bot_out.last], strict=True):
            await expect(shown.locator(".text")).to_have_text(params["text"])

        await page.fill("#reply-form textarea", "Анна, заказ уже в пути!")
        await page.set_input_files(
            "#reply-form input[type=file]",
            files=[{"name": "чек.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 receipt"}],
        )
        await page.click("#reply-form button[type=submit]")
        out = page.locator("#messages .msg.out", has_text="Анна, заказ уже в пути!")
        await expect(out).to_have_count(1)
        await expect(out.locator(".delivery")).to_contain_text("отправлено")
        await expect(out.locator("a.file")).to_contain_text("чек.pdf")
        sent = wait_for(lambda: emulator.sends("sendDocument"))
        assert len(sent) == 1 and sent[0]["params"]["chat_id"] == 501
        assert sent[0]["params"]["caption"] == "Анна, заказ уже в пути!"
        await page.screenshot(path=shot_path("telegram-inbox"))

        emulator.control("POST", "faults", method="sendMessage", kind="blocked", times=1)
        await page.fill("#reply-form textarea", "Вы получили?")
        await page.click("#reply-form button[type=submit]")
        failed = page.locator("#messages .msg.out", has_text="Вы получили?")
        await expect(failed).to_have_count(1)
        await expect(failed.locator(".delivery")).to_contain_text("не доставлено")
        await expect(failed.locator(".why")).to_contain_text("blocked")
        await page.screenshot(path=shot_path("telegram-failed-send"))
        await failed.locator("button.retry").click()
        await expect(failed.locator(".delivery")).to_contain_text("отправлено")
        await expect(failed).to_have_count(1)
        calls = emulator.sends()
        assert [(r["params"]["text"], r.get("fault")) for r in calls[2:]] == [
            ("Вы получили?", "blocked"),
            ("Вы получили?", None),  # the retry really resent it, once
        ]
        assert [r["params"] for r in calls[:2]] == bot  # and the bot stayed quiet once the manager wrote
    finally:
        server.stop()


def test_crash_between_commit_and_send_sends_exactly_once(tmp_path: Path, emulator: Emulator) -> None:
    env = prepare(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'crash.sqlite3'}", emulator)
    token = cli(env, tmp_path, "token", "create", "--name", "erp").stdout.strip().splitlines()[-1]
    emulator.control("POST", "updates", update=text_update(777, "Жду ответа", sender=user(777, "Пётр")))
    server = ServeProcess(env, tmp_path).start()
    auth = {"Authorization": f"Bearer {token}"}
    thread_id = wait_for(lambda: httpx.get(server.url + "/api/v1/threads", headers=auth).json()["items"])[0][
        "id"
    ]
    wait_for(lambda: emulator.sends())  # the bot's greeting went out (bots are on) before the outage
    greeting = [r["params"]["text"] for r in emulator.sends()]
    assert len(greeting) == 1
    # The provider is down: the first attempt fails, the message waits in the outbox (committed, unsent).
    emulator.control("POST", "faults", method="sendMessage", kind="server_error", status=502, times=1)
    posted = httpx.post(
        f"{server.url}/api/v1/threads/{thread_id}/messages", json={"text": "Ответ до сбоя"}, headers=auth
    )
    assert posted.status_code == 201
    wait_for(lambda: len(emulator.sends()) >= 2)
    server.kill()  # SIGKILL: no shutdown hooks, as in a crash
    assert [(r["params"]["text"], r.get("fault")) for r in emulator.sends()] == [
        (greeting[0], None),
        ("Ответ до сбоя", "server_error"),
    ]

    server = ServeProcess(env, tmp_path, port=server.port).start()
    try:

        def delivered() -> bool:
            items = httpx.get(f"{server.url}/api/v1/threads/{thread_id}/messages", headers=auth).json()[
                "items"
            ]
            (mine,) = [m for m in items if m["author"] == "manager"]
            return bool(mine["text"] == "Ответ до сбоя" and mine["delivery"]["state"] == "sent")

        wait_for(delivered)
        time.sleep(1.0)  # give a duplicate, if there were one, time to show up
        ok = [r for r in emulator.sends() if not r.get("fault")]
        assert [r["params"]["text"] for r in ok] == [greeting[0], "Ответ до сбоя"]
    finally:
        server.stop()
