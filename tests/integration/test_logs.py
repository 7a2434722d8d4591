"""Logs: one JSON object per line with INBOX_LOG_FORMAT=json, request ids on the lines of a request (and in
the response), tracebacks folded into their line, and never a secret."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from inbox import logs
from tests.emulators.telegram import TelegramEmulator
from tests.server import ServeProcess, cli
from tests.services import free_port

BOT_TOKEN = "7000123456:AAHsecretTOKENvalue_0123456789abcdefX"
SECRET_KEY = "log-test-secret-key-0123456789"
PASSWORD = "Hunter2-very-private"
WEBHOOK_SECRET = "webhook-secret-value-42"


def test_redact_by_shape_and_by_value() -> None:
    logs.register_secret("s3cr3t-value-for-test")
    line = (
        "GET https://api.telegram.org/bot123456:ABCdefGHIjklMNOpqr/getMe password=qwerty12 "
        'Authorization: Bearer abcdefghijklmnop {"token": "zzzzzzzz"} and s3cr3t-value-for-test'
    )
    out = logs.redact(line)
    for leaked in ("ABCdefGHIjklMNOpqr", "qwerty12", "abcdefghijklmnop", "zzzzzzzz", "s3cr3t-value-for-test"):
        assert leaked not in out
    assert out.count("<redacted>") == 5


async def test_json_logs_request_ids_and_no_secrets(tmp_path: Path) -> None:
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'inbox.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": SECRET_KEY,
        "INBOX_LOG_FORMAT": "json",
    }
    emu = TelegramEmulator(default_token=BOT_TOKEN)
    await emu.start()
    # The provider echoes the token back in an error: the poller logs it with a traceback.
    emu.fail(
        "getUpdates", "error", times=-1, status=400, description=f"Bad Request: token {BOT_TOKEN} is odd"
    )
    server = ServeProcess(env, tmp_path)
    try:
        assert (await asyncio.to_thread(cli, env, tmp_path, "db", "upgrade")).returncode == 0
        made = await asyncio.to_thread(
            cli,
            env,
            tmp_path,
            "manager",
            "create",
            "--email",
            "a@shop.example",
            "--name",
            "A",
            "--password",
            PASSWORD,
        )
        assert made.returncode == 0, made.stderr
        added = await asyncio.to_thread(
            cli,
            env,
            tmp_path,
            "channel",
            "add",
            "telegram",
            "--name",
            "shop",
            "--token",
            BOT_TOKEN,
            "--api-base",
            emu.base_url,
        )
        assert added.returncode == 0, added.stderr
        dead = await asyncio.to_thread(
            cli,
            env,
            tmp_path,
            "channel",
            "add",
            "telegram",
            "--name",
            "dead",
            "--token",
            "7000999:AAHdeadDEAD",
            "--api-base",
            f"http://127.0.0.1:{free_port()}",  # nothing listens: the poller logs a traceback
        )
        assert dead.returncode == 0, dead.stderr
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            page = await client.get("/login", headers={"X-Request-ID": "rid-test-0001"})
            assert page.headers["x-request-id"] == "rid-test-0001"
            csrf = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
            for password in (PASSWORD + "x", PASSWORD):
                await client.post(
                    "/login", data={"email": "a@shop.example", "password": password, "_csrf_token": csrf}
                )
            fresh = await client.get(
                "/webhooks/telegram/1", headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            )
            assert len(fresh.headers["x-request-id"]) == 16  # made up when the client sends none
            await client.get("/nope?token=" + WEBHOOK_SECRET)
        await emu.wait_for_requests("getUpdates", 2, timeout=30)
        for _ in range(100):
            if "odd" in (log := server.log.read_text()) and "Traceback" in log:
                break
            await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(server.stop)
        await emu.stop()
    text = server.log.read_text()
    events = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("inbox on "):  # the console banner is not a log event
            continue
        events.append(json.loads(line))  # every log line is one JSON object
    assert any(e.get("request_id") == "rid-test-0001" and e["logger"] == "inbox.access" for e in events)
    assert any("Traceback" in e.get("exception", "") for e in events), text[-2000:]
    echoed = [e for e in events if "odd" in e["message"] + e.get("exception", "")]
    assert echoed and all("<redacted>" in e["message"] + e.get("exception", "") for e in echoed)
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], SECRET_KEY, PASSWORD, WEBHOOK_SECRET):
        assert secret not in text


def test_unknown_log_format_is_refused(tmp_path: Path) -> None:
    done = cli({"INBOX_LOG_FORMAT": "xml"}, tmp_path, "channel", "list")
    assert done.returncode == 2
    assert "INBOX_LOG_FORMAT must be text or json" in done.stderr
