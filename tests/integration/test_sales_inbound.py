"""Unsubscribes and VK's messaging permission arrive through the real ingest path (adapter webhook handler
→ store_raw → InboundProcessor) against the emulators, on SQLite and PostgreSQL.

A "стоп" is durable: the unsubscribe is an outbox task committed with the message, so a process that dies
right after storing it (nothing else of it kept in memory) still unsubscribes the customer when a dispatcher
starts again, and a task run a second time (a crash after its work, before its row was finished) confirms
only once. VK's ``message_allow`` / ``message_deny`` decide whether broadcasts may write there."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import store_raw
from inbox.core.outbox import Dispatcher
from inbox.core.types import WebhookRequest
from inbox.customer_card.consent import current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import Author, BroadcastRecipient, Direction, Identity, Message, Outbox
from inbox.sales import broadcasts, inbound, segments, unsubscribe
from inbox.sales.config import SalesConfig
from inbox.settings import Settings
from tests.emulators import vk as vk_emu
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.emulators.vk import VKEmulator
from tests.integration.bots_world import TG_SECRET, VK_GROUP, VK_TOKEN, World

CHAT = 9001
VK_USER = 601
CONFIRMATION = "отписаны"  # in the Russian confirmation


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def vk() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(group_id=VK_GROUP, token=VK_TOKEN, max_wait=2) as server:
        server.add_user(VK_USER, "Олег", "Смирнов")
        yield server


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings) -> AsyncIterator[World]:
    w = World(factory, settings)
    try:
        yield w
    finally:
        await w.close()


def confirmations(emu: TelegramEmulator) -> list[str]:
    return [
        str(r.params.get("text"))
        for r in emu.requests("sendMessage")
        if r.fault is None and CONFIRMATION in str(r.params.get("text"))
    ]


async def drain(factory: SessionFactory, settings: Settings) -> None:
    """A dispatcher of a freshly started process: its own hub, nothing carried over in memory."""
    hub = ChannelHub(factory, settings)
    try:
        dispatcher = Dispatcher(factory, hub, EventBus(None), settings)
        while await dispatcher.dispatch_once():
            pass
    finally:
        await hub.close()


async def test_a_stop_reply_survives_a_crash_right_after_it_was_stored(
    world: World, tg: TelegramEmulator, factory: SessionFactory, settings: Settings
) -> None:
    await world.add_telegram(tg)
    sender = user(CHAT, "Ольга", "Иванова", "olga_i", "ru")
    await world.telegram(text_update(CHAT, "Здравствуйте", sender=sender), tg)
    customer = await world.customer_of("telegram", str(CHAT))
    async with transaction(factory) as s:
        await record_consent(s, customer, "telegram", True, "bot")

    # "Стоп" is stored by the real processor; then the process dies: no dispatcher ran, nothing in memory.
    update_ = tg.queue_update(text_update(CHAT, "Стоп", sender=sender))
    channel = await world.hub.get(world.accounts["telegram"])
    assert channel is not None
    request = WebhookRequest(
        headers={"x-telegram-bot-api-secret-token": TG_SECRET, "content-type": "application/json"},
        body=json.dumps(update_, ensure_ascii=False).encode(),
        query={},
        url=f"https://shop.example/webhooks/telegram/{world.accounts['telegram']}",
    )
    await store_raw(factory, world.accounts["telegram"], list(channel.handle_webhook(request).events))
    assert await world.processor.process_batch() == 1
    await world.close()
    async with factory() as s:
        assert (await current_consent(s, customer))["telegram"].marketing is True  # not yet
        task = (await s.execute(select(Outbox).where(Outbox.kind == inbound.TASK))).scalar_one()
        assert task.done_at is None and task.payload["customer_id"] == customer

    # A new process starts: its dispatcher runs the task, which unsubscribes and confirms.
    await drain(factory, settings)
    async with factory() as s:
        state = (await current_consent(s, customer))["telegram"]
        assert state.marketing is False and state.source == "unsubscribe"
    assert len(confirmations(tg)) == 1

    # The task's work committed but the process died before its row was finished: it runs again, the
    # customer stays unsubscribed and is not confirmed twice.
    async with transaction(factory) as s:
        await s.execute(
            update(Outbox)
            .where(Outbox.kind == inbound.TASK)
            .values(done_at=None, attempts=0, claimed_by=None, claimed_until=None)
        )
    await drain(factory, settings)
    assert len(confirmations(tg)) == 1
    async with factory() as s:
        confirmed = (
            await s.execute(
                select(Message).where(
                    Message.customer_id == customer,
                    Message.author == Author.SYSTEM,
                    Message.direction == Direction.OUT,
                )
            )
        ).scalars()
        assert [m.meta.get("unsubscribe_ref") is not None for m in confirmed] == [True]


async def test_a_plain_message_with_stop_inside_is_not_an_unsubscribe(
    world: World, tg: TelegramEmulator, factory: SessionFactory
) -> None:
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "Здравствуйте"), tg)
    customer = await world.customer_of("telegram", str(CHAT))
    async with transaction(factory) as s:
        await record_consent(s, customer, "telegram", True, "bot")
    await world.telegram(text_update(CHAT, "стоп-кран есть?"), tg)
    async with factory() as s:
        assert (await current_consent(s, customer))["telegram"].marketing is True
        assert (await s.execute(select(Outbox).where(Outbox.kind == inbound.TASK))).first() is None
    assert confirmations(tg) == []


async def test_the_vk_unsubscribe_button_is_queued_with_the_press(
    world: World, vk: VKEmulator, factory: SessionFactory, settings: Settings
) -> None:
    await world.add_vk(vk)
    await world.vk_text(VK_USER, "Здравствуйте")
    customer = await world.customer_of("vk", str(VK_USER))
    async with transaction(factory) as s:
        await record_consent(s, customer, "vk", True, "bot")
    token = unsubscribe.make_token(settings.secret_key, customer, "vk")
    before = len(vk.sent)
    await world.vk_press(VK_USER, {"cmd": unsubscribe.BUTTON_PREFIX + token})  # processes and drains
    async with factory() as s:
        assert (await current_consent(s, customer))["vk"].marketing is False
        task = (await s.execute(select(Outbox).where(Outbox.kind == inbound.TASK))).scalar_one()
        assert task.done_at is not None and task.last_error is None
    assert [CONFIRMATION in s.text for s in vk.sent[before:]] == [True]
    # a press of someone else's button (a forwarded copy) unsubscribes nobody
    async with transaction(factory) as s:
        await record_consent(s, customer, "vk", True, "bot")
    stranger = unsubscribe.make_token(settings.secret_key, customer + 1000, "vk")
    await world.vk_press(VK_USER, {"cmd": unsubscribe.BUTTON_PREFIX + stranger})
    async with factory() as s:
        assert (await current_consent(s, customer))["vk"].marketing is True


async def everybody_broadcast(factory: SessionFactory, text: str) -> dict[int, tuple[str, str | None]]:
    async with transaction(factory) as s:
        segment = await segments.create_segment(s, text, conditions=[])
        b = await broadcasts.create_broadcast(s, segment_id=segment.id, text=text)
        await broadcasts.plan(s, b, SalesConfig())
    async with factory() as s:
        rows = (
            await s.execute(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id))
        ).scalars()
        return {r.customer_id: (r.state, r.reason) for r in rows}


async def test_vk_message_allow_and_deny_decide_whether_broadcasts_write_there(
    world: World, vk: VKEmulator, factory: SessionFactory
) -> None:
    await world.add_vk(vk)
    # The user allows the community's messages (a widget or link) without ever writing to it.
    await world._vk(vk.allow(VK_USER, key="landing"))
    customer = await world.customer_of("vk", str(VK_USER))
    async with transaction(factory) as s:
        await record_consent(s, customer, "vk", True, "widget")
    assert (await everybody_broadcast(factory, "Осенние скидки"))[customer] == ("planned", None)

    # Then they forbid them: VK would answer 901; the next broadcast leaves them out and says why.
    await world._vk(vk.deny(VK_USER))
    async with factory() as s:
        identity = (
            await s.execute(select(Identity).where(Identity.kind == "vk", Identity.customer_id == customer))
        ).scalar_one()
        assert identity.blocked is True
        notes = (
            await s.execute(
                select(Message.text)
                .where(Message.customer_id == customer, Message.direction == Direction.EVENT)
                .order_by(Message.id)
            )
        ).scalars()
        assert list(notes) == [inbound.ALLOW, inbound.DENY]
    assert (await everybody_broadcast(factory, "Зимние скидки"))[customer] == ("skipped", "vk_not_allowed")

    # Allowed again: written to again.
    await world._vk(vk.allow(VK_USER))
    assert (await everybody_broadcast(factory, "Весенние скидки"))[customer] == ("planned", None)


async def test_a_deny_from_a_stranger_creates_nobody(world: World, vk: VKEmulator) -> None:
    await world.add_vk(vk)
    await world._vk(vk_emu.message_deny(VK_GROUP, user_id=VK_USER + 1))
    assert await world.count(Identity) == 0


async def test_the_consent_question_and_its_yes_button(
    world: World, tg: TelegramEmulator, factory: SessionFactory, settings: Settings
) -> None:
    """A rule asks on the customer's birthday (any event would do); "Yes" records consent from the bot,
    through the same durable path as the unsubscribe button; a customer who answered is not asked again."""
    from datetime import UTC, date, datetime, timedelta

    from inbox.models import Customer
    from inbox.sales import triggers
    from tests.emulators.telegram import callback_update

    noon = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow: outside the quiet hours
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "Здравствуйте"), tg)
    customer = await world.customer_of("telegram", str(CHAT))
    async with transaction(factory) as s:
        row = await s.get(Customer, customer)
        assert row is not None
        row.birthday = date(1990, 6, 1)
        await triggers.create_rule(
            s, name="Спросить согласие", event="birthday", params={}, actions=[{"kind": "ask_consent"}]
        )
    await triggers.run_rules(factory, settings, noon)
    await world.drain()
    asked = [r for r in tg.requests("sendMessage") if "Можно присылать" in str(r.params.get("text"))]
    assert len(asked) == 1
    keyboard = asked[0].params["reply_markup"]["inline_keyboard"]
    yes = [b["callback_data"] for row in keyboard for b in row if b["text"].startswith("Да")]
    assert len(yes) == 1 and yes[0].startswith(unsubscribe.CONSENT_YES)

    await world.telegram(callback_update(CHAT, yes[0]), tg)
    async with factory() as s:
        state = (await current_consent(s, customer))["telegram"]
        assert state.marketing is True and state.source == "bot"
    assert len([r for r in tg.requests("sendMessage") if "Спасибо" in str(r.params.get("text"))]) == 1

    # next year's birthday: they answered, so the rule does not ask again
    await triggers.run_rules(factory, settings, noon + timedelta(days=365))
    await world.drain()
    assert len([r for r in tg.requests("sendMessage") if "Можно присылать" in str(r.params.get("text"))]) == 1
