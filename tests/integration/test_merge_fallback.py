"""After a merge the customer is reachable on every channel: a reply on Telegram that fails permanently
(the bot was blocked) is re-enqueued by the outbox on the merged-in SMS identity and noted in the thread.
Real aiogram against the Telegram emulator, real httpx against the SMS (Twilio) emulator, both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import apply_message
from inbox.core.merge import choose_preferred_channel, merge_customers, suggest_duplicates
from inbox.core.outbox import Dispatcher, Draft, enqueue
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Direction, Identity, Message, Thread
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PHONE = "+79161234567"
SHOP_NUMBER = "+15005550006"


@pytest.fixture
async def tg_emu() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
def sms_emu() -> Iterator[SMSEmulator]:
    with SMSEmulator() as emu:
        yield emu


async def test_blocked_telegram_falls_back_to_merged_sms(
    factory: SessionFactory, settings: Settings, tg_emu: TelegramEmulator, sms_emu: SMSEmulator
) -> None:
    async with transaction(factory) as session:
        tg = ChannelAccount(
            kind="telegram",
            name="bot",
            settings={"api_base": tg_emu.base_url},
            secrets={"token": DEFAULT_TOKEN},
            state={},
        )
        sms = ChannelAccount(
            kind="sms",
            name="sms",
            settings={"provider": "twilio", "from": SHOP_NUMBER, "api_base": sms_emu.base_url},
            secrets={"account_sid": sms_emu.twilio_sid, "auth_token": sms_emu.twilio_token},
            state={},
        )
        session.add_all([tg, sms])
        await session.flush()
        await apply_message(
            session,
            InboundMessage(
                kind=ChannelKind.TELEGRAM,
                account_id=tg.id,
                external_user_id="4242",
                external_message_id="4242:1",
                sent_at=T0,
                text="Где мой заказ?",
                contact=ContactHints(display_name="Анна", phone_unverified=PHONE),
            ),
            [],
        )
        await apply_message(
            session,
            InboundMessage(
                kind=ChannelKind.SMS,
                account_id=sms.id,
                external_user_id=PHONE,
                external_message_id="SM1",
                sent_at=T0,
                text="Анна, заказ 1001",
                contact=ContactHints(phone=PHONE),
            ),
            [],
        )
    async with factory() as session:
        anna = (
            await session.execute(select(Identity.customer_id).where(Identity.kind == "telegram"))
        ).scalar_one()
        [suggestion] = await suggest_duplicates(session, anna)
    async with transaction(factory) as session:
        await merge_customers(session, anna, suggestion.customer_id, {}, actor="test")
    async with transaction(factory) as session:
        await choose_preferred_channel(session, anna, "telegram")
        thread = (await session.execute(select(Thread).where(Thread.customer_id == anna))).scalar_one()
        first = await enqueue(session, thread, Draft(text="Заказ 1001 отправлен"))
    assert first.channel == "telegram"

    tg_emu.fail("sendMessage", "blocked")
    hub = ChannelHub(factory, settings)
    dispatcher = Dispatcher(factory, hub, EventBus(None), settings)
    try:
        assert await dispatcher.dispatch_once() == 1  # Telegram: 403 blocked -> permanent -> fallback queued
        assert await dispatcher.dispatch_once() == 1  # the fallback goes out by SMS
    finally:
        await hub.close()

    assert [r["to"] for r in sms_emu.sent] == [PHONE] and sms_emu.sent[0]["body"] == "Заказ 1001 отправлен"
    async with factory() as session:
        rows = list(
            (
                await session.execute(
                    select(Message).where(Message.thread_id == thread.id).order_by(Message.id)
                )
            ).scalars()
        )
        failed = next(m for m in rows if m.id == first.id)
        assert failed.delivery == "failed" and failed.delivery_error
        resent = rows[-2] if rows[-1].direction == Direction.EVENT else rows[-1]
        assert resent.channel == "sms" and resent.delivery == "sent"
        assert resent.meta["fallback_from"]["channel"] == "telegram"
        note = next(m for m in rows if m.meta.get("kind") == "fallback")
        assert note.meta["from"] == "telegram" and note.meta["to"] == "sms"
        blocked = (
            await session.execute(select(Identity.blocked).where(Identity.kind == "telegram"))
        ).scalar_one()
        assert blocked is True
