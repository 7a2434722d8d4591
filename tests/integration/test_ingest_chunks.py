"""A claimed batch applied in short transactions (how ``inbox serve`` on SQLite applies it while webhooks wait
for the writer) stores what one transaction does: every message once (a redelivery in a later part is
still a no-op), per chat in order, the threads' unread counts, every raw event marked processed, and the
messages' events published."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from inbox.core.ingest import CHUNK_WHEN_BUSY, store_raw
from inbox.core.types import RawEvent, WebhookRequest
from inbox.db import SessionFactory
from inbox.models import Direction, Identity, InboundEvent, Message, Thread
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.integration.bots_world import TG_SECRET, World

CHATS = (601, 602, 603)
PER_CHAT = 9


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_a_batch_in_parts_stores_what_one_transaction_does(
    factory: SessionFactory, settings: Settings, emu: TelegramEmulator
) -> None:
    world = World(factory, settings.with_(bots_enabled=False), batched=True)
    account = await world.add_account(
        "telegram", "tg", {"api_base": emu.base_url}, {"token": "1003:chunks", "webhook_secret": TG_SECRET}
    )
    world.processor.writers_waiting = lambda: True  # webhooks always waiting: the smallest parts
    try:
        channel = await world.hub.get(account)
        assert channel is not None

        def raw(update_id: int, chat: int, text: str, message_id: int) -> RawEvent:
            update = {
                "update_id": update_id,
                **text_update(chat, text, sender=user(chat, f"Имя{chat}"), message_id=message_id),
            }
            body = json.dumps(update, ensure_ascii=False).encode()
            headers = {"x-telegram-bot-api-secret-token": TG_SECRET}
            result = channel.handle_webhook(WebhookRequest(headers=headers, body=body, query={}, url=""))
            return result.events[0]

        events = [
            raw(100 + n * len(CHATS) + i, chat, f"{chat}-{n}", 1000 * chat + n)
            for n in range(PER_CHAT)
            for i, chat in enumerate(CHATS)
        ]
        # The first message of 601 again, under another update id, in a later part of the batch.
        events.insert(2 * CHUNK_WHEN_BUSY + 1, raw(999, 601, "601-0", 1000 * 601))
        assert len(events) > 2 * CHUNK_WHEN_BUSY + 1
        await store_raw(factory, account, events)
        assert await world.processor.process_batch() == len(events)  # one claim, several transactions
        assert await world.processor.process_batch() == 0

        async with factory() as s:
            left = (await s.execute(select(InboundEvent.id).where(InboundEvent.processed_at.is_(None)))).all()
            assert left == []
            errors = (
                await s.execute(select(InboundEvent.error).where(InboundEvent.error.is_not(None)))
            ).all()
            assert errors == []
            for chat in CHATS:
                customer = (
                    await s.execute(
                        select(Identity.customer_id).where(
                            Identity.account_id == account, Identity.external_id == str(chat)
                        )
                    )
                ).scalar_one()
                texts = (
                    await s.execute(
                        select(Message.text)
                        .where(Message.customer_id == customer, Message.direction == Direction.IN)
                        .order_by(Message.id)
                    )
                ).scalars()
                assert list(texts) == [f"{chat}-{n}" for n in range(PER_CHAT)]
                thread = (await s.execute(select(Thread).where(Thread.customer_id == customer))).scalar_one()
                assert thread.unread_count == PER_CHAT
        published = [
            e.message_id for e in world.seen if e.type == "message.new" and e.data["direction"] == "in"
        ]
        assert len(published) == len(set(published)) == len(CHATS) * PER_CHAT
    finally:
        await world.close()
