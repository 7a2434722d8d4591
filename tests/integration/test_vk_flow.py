"""VK through the whole stack: the Callback API route (confirmation, secret, redelivery), Bots Long Poll with
its position in our database, and answers through messages.send, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.outbox import Draft, enqueue
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, InboundEvent, Message, Thread
from inbox.settings import Settings
from tests.emulators.vk import VKEmulator, message, message_new
from tests.integration.test_telegram_flow import eventually, messages
from tests.server import threaded_server

TOKEN = "vk1.a." + "x" * 60


@pytest.fixture
async def vk() -> AsyncIterator[VKEmulator]:
    emu = VKEmulator(group_id=77)
    await emu.start()
    emu.add_user(3001, "Игорь", "Петров")
    try:
        yield emu
    finally:
        await emu.stop()


async def add_account(factory: SessionFactory, vk: VKEmulator, mode: str) -> int:
    settings: dict[str, Any] = {"group_id": 77, "mode": mode, "api_base": vk.base_url, "wait": 1}
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="vk",
            name=f"club-{mode}",
            settings=settings,
            state={},
            secrets={"token": TOKEN, "secret": "vk-secret", "confirmation": "c0nf1rm"},
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_callback_confirmation_secret_and_redelivery(
    factory: SessionFactory, settings: Settings, vk: VKEmulator
) -> None:
    account_id = await add_account(factory, vk, "callback")
    with threaded_server(settings) as base:
        url = f"{base}/webhooks/vk/{account_id}"
        async with httpx.AsyncClient(timeout=10) as client:
            confirm = await client.post(
                url, json={"type": "confirmation", "group_id": 77, "secret": "vk-secret"}
            )
            assert confirm.status_code == 200 and confirm.text == "c0nf1rm"
            event = message_new(77, message(3001, "Есть куртка Nord в размере L?", cmid=5))
            forged = await client.post(url, json={**event, "secret": "guess"})
            assert forged.status_code == 401
            async with factory() as session:
                assert (
                    await session.execute(select(func.count()).select_from(InboundEvent))
                ).scalar_one() == 0
        first = await vk.post_callback(url, event, secret="vk-secret")
        again = await vk.post_callback(url, event, secret="vk-secret")  # VK retries until it sees "ok"
        assert first == again == [(200, "ok")]

        rows = await eventually(lambda: _n_messages(factory, 1))
        assert [m.text for m in rows] == ["Есть куртка Nord в размере L?"]
        async with transaction(factory) as session:
            assert (await session.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 1
            thread = (await session.execute(select(Thread))).scalar_one()
            await enqueue(session, thread, Draft(text="Да, есть: 7 990 ₽"))

        async def ours() -> list[Any]:  # the bot may have answered the question too
            return [s for s in await _sent(vk) or [] if s.text == "Да, есть: 7 990 ₽"]

        sent = await eventually(ours)
        assert sent[0].peer_id == 3001


async def test_long_poll_keeps_its_position_in_the_database(
    factory: SessionFactory, settings: Settings, vk: VKEmulator
) -> None:
    account_id = await add_account(factory, vk, "longpoll")
    with threaded_server(settings):
        await eventually(lambda: _called(vk, "groups.getLongPollServer"))
        await asyncio.sleep(0.3)  # the first a_check is waiting: VK delivers only what comes after it
        await vk.push(message_new(77, message(3001, "Первое", cmid=1)))
        await eventually(lambda: _n_messages(factory, 1))
        await vk.push(message_new(77, message(3001, "Второе", cmid=2)))
        rows = await eventually(lambda: _n_messages(factory, 2))
        assert [m.text for m in rows] == ["Первое", "Второе"]
        async with factory() as session:
            names = (
                (await session.execute(select(Message.text).where(Message.direction == "in"))).scalars().all()
            )
            row = await session.get(ChannelAccount, account_id)
        assert row is not None and row.state.get("ts")  # not in a .vkbottle/ file
        assert len(names) == 2


async def _n_messages(factory: SessionFactory, n: int) -> list[Message] | None:
    """The customer's messages once there are ``n`` (the bot's answers aside: bots are on)."""
    rows = [m for m in await messages(factory) if m.direction == "in"]
    return rows if len(rows) >= n else None


async def _called(vk: VKEmulator, method: str) -> bool:
    await asyncio.sleep(0)
    return bool(vk.calls(method))


async def _sent(vk: VKEmulator) -> list[Any] | None:
    await asyncio.sleep(0)
    return list(vk.sent) or None
