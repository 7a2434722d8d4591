"""Telegram end to end through the real stack: aiogram against the Bot API emulator, our webhook route and
poller on uvicorn, the inbound processor and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, ChannelAccount, Customer, InboundEvent, KeyValue, Message
from inbox.settings import Settings
from tests.emulators.telegram import (
    DEFAULT_TOKEN,
    TelegramEmulator,
    contact_update,
    document_update,
    edited_update,
    photo_update,
    text_update,
    user,
)
from tests.server import threaded_server

SECRET = "s3cret-token_1"


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


async def add_account(factory: SessionFactory, emu: TelegramEmulator, mode: str, public_url: str = "") -> int:
    settings: dict[str, Any] = {
        "mode": mode,
        "api_base": emu.base_url,
        "request_timeout": 3,
        "poll_timeout": 1,
    }
    if public_url:
        settings["public_url"] = public_url
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="telegram",
            name=f"shop-{mode}",
            settings=settings,
            secrets={"token": DEFAULT_TOKEN, "webhook_secret": SECRET},
            state={},
        )
        session.add(row)
        await session.flush()
        return row.id


async def api_token(factory: SessionFactory) -> str:
    token = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="t", token_sha256=token_digest(token)))
    return token


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def messages(factory: SessionFactory) -> list[Message]:
    async with factory() as session:
        return list((await session.execute(select(Message).order_by(Message.id))).scalars())


async def test_polling_inbound_media_contact_edit_and_reply(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    account_id = await add_account(factory, emulator, "polling")
    token = await api_token(factory)
    anna = user(501, "Анна", "Смирнова", username="anna_s", language_code="ru")
    photo = emulator.add_file(b"\x89PNG\r\n\x1a\n fake png", "photo.jpg", folder="photos")
    doc = emulator.add_file("Счёт на оплату".encode(), "счёт.pdf")
    emulator.queue_update(text_update(501, "Здравствуйте! Где мой заказ?", sender=anna, message_id=1))
    emulator.queue_update(photo_update(501, photo.file_id, "Вот фото", sender=anna, message_id=2))
    emulator.queue_update(
        document_update(
            501, doc.file_id, "счёт.pdf", caption=None, sender=anna, message_id=3, file_size=len(doc.data)
        )
    )
    emulator.queue_update(contact_update(501, "79161234567", sender=anna, message_id=4))

    with threaded_server(settings) as base:
        rows = await eventually(lambda: _at_least(factory, 4))
        assert [m.text for m in rows][:2] == ["Здравствуйте! Где мой заказ?", "Вот фото"]
        emulator.queue_update(edited_update(501, 1, "Здравствуйте! Где заказ 1042?", sender=anna))

        async def edited() -> bool:
            return any(m.text == "Здравствуйте! Где заказ 1042?" for m in await messages(factory))

        await eventually(edited)
        async with factory() as session:
            customers = list((await session.execute(select(Customer))).scalars())
        assert len(customers) == 1  # one customer, one identity, one thread
        assert customers[0].phone == "+79161234567" and customers[0].phone_verified
        assert customers[0].name == "Анна Смирнова"

        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            threads = (await client.get("/api/v1/threads")).json()["items"]
            assert len(threads) == 1
            thread_id = threads[0]["id"]
            items = (await client.get(f"/api/v1/threads/{thread_id}/messages")).json()["items"]
            first = items[0]
            assert first["text"] == "Здравствуйте! Где заказ 1042?"
            photo_msg = next(m for m in items if m["text"] == "Вот фото")
            assert photo_msg["attachments"][0]["kind"] == "photo"
            doc_msg = next(m for m in items if m["attachments"] and m["attachments"][0]["kind"] == "document")
            assert doc_msg["attachments"][0]["filename"] == "счёт.pdf"

            sent = await client.post(
                f"/api/v1/threads/{thread_id}/messages", json={"text": "Заказ 1042 уже в пути"}
            )
            assert sent.status_code == 201

            async def ours() -> list[Any]:  # the bot answered the customer too (bots on)
                calls = emulator.requests("sendMessage")
                return [c for c in calls if c.params["text"] == "Заказ 1042 уже в пути"]

            (call,) = await eventually(ours)
            assert call.params["chat_id"] == 501

            async def delivered() -> bool:
                items = (await client.get(f"/api/v1/threads/{thread_id}/messages")).json()["items"]
                mine = [m for m in items if m["text"] == "Заказ 1042 уже в пути"]
                return mine[0]["delivery"]["state"] == "sent"

            await eventually(delivered)
    async with factory() as session:
        stored = (
            await session.execute(select(ChannelAccount).where(ChannelAccount.id == account_id))
        ).scalar_one()
    assert stored.state["offset"] >= 5  # the poller's position lives in our database


async def _at_least(factory: SessionFactory, n: int) -> list[Message] | None:
    """The customers' messages, once there are ``n`` (the bot's answers are not counted: bots are on)."""
    rows = await inbound(factory)
    return rows if len(rows) >= n else None


async def inbound(factory: SessionFactory) -> list[Message]:
    return [m for m in await messages(factory) if m.direction == "in"]


async def test_webhook_secret_redelivery_and_bad_input(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    with threaded_server(settings) as base:
        account_id = await add_account(factory, emulator, "webhook", public_url=base)
        url = f"{base}/webhooks/telegram/{account_id}"
        async with httpx.AsyncClient(timeout=10) as client:
            update = {"update_id": 9001, **text_update(777, "Привет", message_id=10)}
            wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
            assert wrong.status_code == 401
            missing = await client.post(url, json=update)
            assert missing.status_code == 401
            async with factory() as session:
                assert (
                    await session.execute(select(func.count()).select_from(InboundEvent))
                ).scalar_one() == 0

            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            malformed = await client.post(url, content=b"{not json", headers=good)
            assert malformed.status_code == 400
            unknown = await client.post(f"{base}/webhooks/telegram/99999", json=update, headers=good)
            assert unknown.status_code == 404
            huge = await client.post(url, content=b"x" * (2 * 1024 * 1024), headers=good)
            assert huge.status_code == 413

            for _ in range(3):  # Telegram redelivers until it gets a 200
                ok = await client.post(url, json=update, headers=good)
                assert ok.status_code == 200
            odd = await client.post(url, json={"update_id": 9002, "poll": {"id": "1"}}, headers=good)
            assert odd.status_code == 200  # a type we do not handle: kept raw, skipped without error

        async def processed() -> bool:
            async with factory() as session:
                rows = list((await session.execute(select(InboundEvent))).scalars())
            return len(rows) == 2 and all(r.processed_at for r in rows)

        await eventually(processed)
        rows = await inbound(factory)
        assert [m.text for m in rows] == ["Привет"]
        async with factory() as session:  # providers carry no browser session: none was stored for them
            stored = select(func.count()).select_from(KeyValue).where(KeyValue.namespace == "sessions")
            assert (await session.execute(stored)).scalar_one() == 0  # (workers' heartbeats live there too)
        async with factory() as session:
            skipped = (
                await session.execute(select(InboundEvent).where(InboundEvent.key == "9002"))
            ).scalar_one()
        assert skipped.skipped and skipped.error is None

        # The worker set the webhook on start, with our URL and secret.
        calls = await emulator.wait_for_requests("setWebhook", 1, timeout=10)
        assert calls[-1].params["url"] == url and calls[-1].params["secret_token"] == SECRET


async def test_rate_limit_is_waited_out_and_blocked_bot_fails_visibly(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    await add_account(factory, emulator, "polling")
    token = await api_token(factory)
    emulator.queue_update(text_update(601, "Добрый день", message_id=1))
    emulator.queue_update(text_update(602, "Привет", message_id=1))
    with threaded_server(settings) as base:
        await eventually(lambda: _at_least(factory, 2))

        async def greeted() -> bool:  # the bot greets both customers first (bots on)
            return len(emulator.requests("sendMessage")) >= 2

        await eventually(greeted)
        before = len(emulator.requests("sendMessage"))
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            threads = [t["id"] for t in (await client.get("/api/v1/threads")).json()["items"]]
            assert len(threads) == 2
            first, second = sorted(threads)
            emulator.fail("sendMessage", "retry_after", retry_after=1)
            await client.post(f"/api/v1/threads/{first}/messages", json={"text": "Ответ после паузы"})

            async def sent_once() -> bool:
                ok = [r for r in emulator.requests("sendMessage")[before:] if not r.fault]
                return len(ok) == 1

            await eventually(sent_once)
            tries = emulator.requests("sendMessage")[before:]
            assert [r.fault for r in tries] == ["retry_after", None]

            emulator.fail("sendMessage", "blocked")
            await client.post(f"/api/v1/threads/{second}/messages", json={"text": "Вы здесь?"})

            async def failed() -> dict[str, Any] | None:
                items = (await client.get(f"/api/v1/threads/{second}/messages")).json()["items"]
                return items[-1] if items[-1]["delivery"]["state"] == "failed" else None

            last = await eventually(failed)
            assert "blocked" in last["delivery"]["error"]


async def test_restart_processes_what_was_committed_but_not_processed(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    from inbox.core.ingest import store_raw
    from inbox.core.types import RawEvent

    account_id = await add_account(factory, emulator, "webhook", public_url="http://127.0.0.1:9")
    # Committed by a process that died before processing them:
    updates = [
        {"update_id": 70 + i, **text_update(900, f"до перезапуска {i}", message_id=i + 1)} for i in range(3)
    ]
    assert await store_raw(factory, account_id, [RawEvent(str(u["update_id"]), u) for u in updates]) == 3
    assert await messages(factory) == []
    with threaded_server(settings):
        rows = await eventually(lambda: _at_least(factory, 3))
    assert [m.text for m in rows] == [f"до перезапуска {i}" for i in range(3)]
