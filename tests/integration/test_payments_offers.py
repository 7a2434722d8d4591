"""The bot offers payment at the end of checkout (a YooKassa link, or a Telegram invoice); an order left
unpaid past the limit emits "order.unpaid" once and gets the single built-in reminder. Both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from inbox.core.events import Event
from inbox.db import SessionFactory, transaction
from inbox.models import Message, NotificationSent, Order, PaymentAccount, utcnow
from inbox.orders.timers import OrderTimers
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator, callback_update, contact_update
from tests.emulators.yookassa import YooKassaEmulator
from tests.integration.bots_world import World, seed_catalog
from tests.integration.test_bots_telegram import CHAT, button, press, say, sent


@pytest.fixture
def yk() -> Iterator[YooKassaEmulator]:
    with YooKassaEmulator() as e:
        yield e


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings, emu: TelegramEmulator) -> AsyncIterator[World]:
    w = World(factory, settings.with_(telegram_rate_per_chat=1000.0, telegram_rate_per_bot=1000.0))
    await w.add_telegram(emu)
    yield w
    await w.close()


async def _checkout(world: World, emu: TelegramEmulator) -> Order:
    await seed_catalog(world.factory)
    _text, rows = await say(world, emu, "Есть ли кроссовки?")
    _text, rows = await press(world, emu, button(rows, "Кроссовки"))
    _text, rows = await press(world, emu, button(rows, "корзину"))
    _text, rows = await press(world, emu, button(rows, "Оформить"))
    await say(world, emu, "Иван Петров")
    await world.telegram(contact_update(CHAT, "79991234567"), emu)
    _text, rows = sent(emu)[-1]
    _text, rows = await press(world, emu, button(rows, "Курьер"))
    _text, rows = await say(world, emu, "Москва, Тверская 1, кв. 2")
    await world.telegram(callback_update(CHAT, button(rows, "Подтвердить")), emu)  # thanks (+ the offer)
    async with world.factory() as session:
        return (await session.execute(select(Order).where(Order.number.is_not(None)))).scalar_one()


def _url_buttons(emu: TelegramEmulator) -> list[tuple[str, str]]:
    out = []
    for r in emu.requests("sendMessage"):
        markup = r.params.get("reply_markup") or {}
        markup = json.loads(markup) if isinstance(markup, str) else markup
        for row in markup.get("inline_keyboard", []):
            out += [(str(r.params["text"]), str(b["url"])) for b in row if b.get("url")]
    return out


async def test_checkout_offers_the_link_then_one_reminder(
    world: World, emu: TelegramEmulator, yk: YooKassaEmulator
) -> None:
    async with transaction(world.factory) as session:
        session.add(
            PaymentAccount(
                kind="yookassa",
                name="main",
                settings={"shop_id": yk.shop_id, "api_base": yk.base_url},
                secrets={"secret_key": yk.secret_key},
            )
        )
    order = await _checkout(world, emu)
    texts = [t for t, _ in sent(emu)]
    assert any(f"#{order.number}" in t and "оплатить" in t.lower() for t in texts)
    await world.drain()  # the offer task (already run by the drain after the press): the provider is called
    # outside the checkout transaction
    links = _url_buttons(emu)
    assert len(links) == 1 and links[0][1].startswith(yk.base_url + "/pay/")
    assert f"№{order.number}" in links[0][0]
    assert order.total == 599000 + 30000
    pid = next(iter(yk.payments))
    assert yk.payments[pid]["amount"]["value"] == "6290.00"

    published: list[Event] = []

    async def record(ev: Event) -> None:
        published.append(ev)

    world.bus.subscribe(record)
    timers = OrderTimers(world.factory, world.bus, world.settings)
    early = await timers.tick(now=utcnow() + timedelta(hours=1))
    assert early["unpaid"] == 0
    later = utcnow() + timedelta(minutes=world.settings.unpaid_after_minutes + 5)
    assert (await timers.tick(now=later))["unpaid"] == 1
    assert (await timers.tick(now=later + timedelta(hours=5)))["unpaid"] == 0  # once
    assert [e.data["number"] for e in published if e.type == "order.unpaid"] == [order.number]
    await world.drain()
    links = _url_buttons(emu)
    assert len(links) == 2 and links[1][1] == links[0][1]  # the same payment, reminded once
    assert "напоминаем" in links[1][0].lower()
    assert len(yk.payments) == 1
    async with world.factory() as session:
        keys = list((await session.execute(select(NotificationSent.key))).scalars())
        events = list(
            (await session.execute(select(Message).where(Message.thread_id == order.thread_id))).scalars()
        )
    assert f"order:{order.id}:unpaid" in keys
    assert [m.meta.get("event") for m in events if m.meta.get("kind") == "order"].count("unpaid") == 1


async def test_telegram_customers_get_an_invoice(world: World, emu: TelegramEmulator) -> None:
    async with transaction(world.factory) as session:
        session.add(
            PaymentAccount(
                kind="telegram",
                name="tgpay",
                settings={"channel_id": world.accounts["telegram"]},
                secrets={"provider_token": "381764678:TEST:1"},
            )
        )
    order = await _checkout(world, emu)
    await world.drain()
    invoices = emu.requests("sendInvoice")
    assert len(invoices) == 1
    assert sum(p["amount"] for p in invoices[0].params["prices"]) == order.total
    receipt = json.loads(invoices[0].params["provider_data"])["receipt"]
    assert receipt["customer"] == {"phone": "79991234567"}  # the contact shared at checkout
    assert not _url_buttons(emu)


async def test_no_provider_no_offer(world: World, emu: TelegramEmulator) -> None:
    order = await _checkout(world, emu)
    texts = [t for t, _ in sent(emu)]
    assert any(f"#{order.number}" in t and "свяжемся" in t for t in texts)
    await world.drain()
    assert not _url_buttons(emu) and not emu.requests("sendInvoice")


async def test_a_sales_trigger_rule_replaces_the_builtin_reminder(
    world: World, emu: TelegramEmulator, yk: YooKassaEmulator
) -> None:
    from inbox.models import Outbox, TriggerRule

    async with transaction(world.factory) as session:
        session.add(
            PaymentAccount(
                kind="yookassa",
                name="main",
                settings={"shop_id": yk.shop_id, "api_base": yk.base_url},
                secrets={"secret_key": yk.secret_key},
            )
        )
        session.add(TriggerRule(name="unpaid", event="order_unpaid", params={"hours": 24}, actions=[]))
    order = await _checkout(world, emu)
    await world.drain()
    timers = OrderTimers(world.factory, world.bus, world.settings)
    later = utcnow() + timedelta(minutes=world.settings.unpaid_after_minutes + 5)
    assert (await timers.tick(now=later))["unpaid"] == 1  # the event is still emitted, once
    async with world.factory() as session:
        kinds = list((await session.execute(select(Outbox.kind))).scalars())
        events = list(
            (await session.execute(select(Message).where(Message.thread_id == order.thread_id))).scalars()
        )
    assert "pay.remind" not in kinds  # the sales rule reminds instead
    assert [m.meta.get("event") for m in events].count("unpaid") == 1
