"""The Bot API emulator itself: the semantics adapter tests rely on, checked with the real aiogram client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError

from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, contact_update, text_update


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    b = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    yield b
    await b.session.close()


async def test_offset_confirms_earlier_updates(emu: TelegramEmulator, bot: Bot) -> None:
    ids = [emu.queue_update(text_update(1, f"m{i}"))["update_id"] for i in range(3)]
    assert [u.update_id for u in await bot.get_updates()] == ids  # nothing confirmed yet
    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u.update_id for u in await bot.get_updates()] == ids[1:]  # ids[0] is gone for good
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[2:]
    assert await bot.get_updates(offset=ids[2] + 1, timeout=0) == []


async def test_long_poll_returns_when_an_update_arrives(emu: TelegramEmulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await emu.wait_for_requests("getUpdates")
    update = emu.queue_update(contact_update(5, "79991234567"))
    (got,) = await poll
    assert got.update_id == update["update_id"]
    assert got.message is not None and got.message.contact is not None
    assert got.message.contact.user_id == 5


async def test_get_updates_conflicts_with_an_active_webhook(emu: TelegramEmulator, bot: Bot) -> None:
    await bot.set_webhook("https://shop.example/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://shop.example/hook"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_validation_errors_look_like_telegram(emu: TelegramEmulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "😀" * 2049)  # 4098 UTF-16 units
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=1, message_id=999)


async def test_json_bodies_and_control_api_errors(emu: TelegramEmulator) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        r = await http.post(f"/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": 3, "text": "json body"})
        assert r.json()["ok"] is True and r.json()["result"]["text"] == "json body"
        r = await http.post("/bottoken-without-colon/getMe")
        assert r.status_code == 401 and r.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
        r = await http.post(f"/bot{DEFAULT_TOKEN}/noSuchMethod")
        assert r.status_code == 404
        r = await http.post("/_control/updates", json={"build": "nope"})
        assert r.status_code == 400 and "unknown builder" in r.text
        r = await http.post("/_control/updates", content=b"not json")
        assert r.status_code == 400
    assert emu.requests("sendMessage")[0].params == {"chat_id": 3, "text": "json body"}
