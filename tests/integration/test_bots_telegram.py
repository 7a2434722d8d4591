"""The bot over Telegram: emulator ↔ real aiogram adapter ↔ ingest ↔ BotEngine ↔ outbox ↔ Dispatcher."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from inbox.bots.payloads import Action, sign
from inbox.db import SessionFactory, transaction
from inbox.models import DRAFT, BotState, Customer, Order, OrderLine, Stock
from inbox.orders import service
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator, callback_update, contact_update, text_update, user
from tests.integration.bots_world import World, seed_catalog

CHAT = 4242


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


def sent(emu: TelegramEmulator) -> list[tuple[str, list[list[dict[str, Any]]]]]:
    """(text, inline keyboard rows) of every sendMessage the bot made."""
    out = []
    for r in emu.requests("sendMessage"):
        markup = r.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        out.append((str(r.params["text"]), (markup or {}).get("inline_keyboard", [])))
    return out


def button(rows: list[list[dict[str, Any]]], label_part: str) -> str:
    for row in rows:
        for b in row:
            if label_part in b["text"]:
                return str(b["callback_data"])
    raise AssertionError(f"no button with {label_part!r} in {rows}")


async def say(world: World, emu: TelegramEmulator, text: str) -> tuple[str, list[list[dict[str, Any]]]]:
    before = len(sent(emu))
    await world.telegram(text_update(CHAT, text), emu)
    after = sent(emu)
    assert len(after) == before + 1, f"expected one reply to {text!r}, got {after[before:]}"
    return after[-1]


async def press(world: World, emu: TelegramEmulator, data: str) -> tuple[str, list[list[dict[str, Any]]]]:
    before = len(sent(emu))
    await world.telegram(callback_update(CHAT, data), emu)
    after = sent(emu)
    assert len(after) == before + 1, f"expected one reply to the press of {data!r}"
    return after[-1]


async def test_full_checkout_creates_an_order_and_reserves_stock(world: World, emu: TelegramEmulator) -> None:
    ids = await seed_catalog(world.factory)
    text, rows = await say(world, emu, "Есть ли кроссовки?")
    assert "Кроссовки беговые" in json.dumps(rows, ensure_ascii=False)
    text, rows = await press(world, emu, button(rows, "Кроссовки"))
    assert "Кроссовки беговые" in text and "5" in text  # the card shows the available stock
    assert "Носки спортивные" in json.dumps(rows, ensure_ascii=False)  # related goods
    text, rows = await press(world, emu, button(rows, "корзину"))
    text, rows = await press(world, emu, button(rows, "Оформить"))
    text, rows = await say(world, emu, "Иван Петров")  # name typed
    assert "контакт" in text.lower()  # Telegram: share the contact or type the number
    await world.telegram(contact_update(CHAT, "79991234567"), emu)
    text, rows = sent(emu)[-1]
    text, rows = await press(world, emu, button(rows, "Курьер"))
    text, rows = await say(world, emu, "Москва, Тверская 1, кв. 2")
    assert "+79991234567" in text and "Москва, Тверская 1" in text
    text, rows = await press(world, emu, button(rows, "Подтвердить"))
    async with world.factory() as session:
        order = (await session.execute(select(Order).where(Order.number.is_not(None)))).scalar_one()
        lines = list(
            (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars()
        )
        stock = await session.get(Stock, (ids["RUN-42"], lines[0].warehouse_id))
    assert f"#{order.number}" in text
    assert order.status == "new" and order.source == "bot"
    assert order.delivery_method == "courier" and order.delivery_address == "Москва, Тверская 1, кв. 2"
    assert order.total == 599000 + 30000
    assert [(ln.product_id, ln.qty, ln.reserved) for ln in lines] == [(ids["RUN-42"], 1, True)]
    assert stock is not None and stock.reserved == 1
    # the status button of the confirmation answers with the order's status
    text, _ = await press(world, emu, button(sent(emu)[-1][1], "Статус"))
    assert f"#{order.number}" in text and "Новый" in text
    # every press was acknowledged
    assert len(emu.requests("answerCallbackQuery")) >= 5


async def test_a_contact_shared_outside_checkout_is_not_misunderstood(
    world: World, emu: TelegramEmulator
) -> None:
    await say(world, emu, "привет")
    before = len(sent(emu))
    await world.telegram(contact_update(CHAT, "79991234567"), emu)
    assert sent(emu)[before:] == []  # no "Sorry, I did not understand" to a shared phone number
    text, _ = await say(world, emu, "абвгд")
    assert "не понял" in text
    customer_id = await world.customer_of("telegram", str(CHAT))
    async with world.factory() as session:
        state = (
            await session.execute(select(BotState).where(BotState.customer_id == customer_id))
        ).scalar_one()
        customer = await session.get(Customer, customer_id)
    assert state.data.get("misunderstood") == 1 and not state.handoff  # the contact did not count
    assert customer is not None and customer.phone == "+79991234567"  # and it was kept


async def test_status_by_number_and_my_orders(world: World, emu: TelegramEmulator) -> None:
    ids = await seed_catalog(world.factory)
    await say(world, emu, "привет")
    customer_id = await world.customer_of("telegram", str(CHAT))
    async with transaction(world.factory) as s:
        draft = await service.do_create_draft(s, customer_id=customer_id, actor=service.API, source="api")
        await service.do_add_line(s, draft, ids["SOCK-1"], 2, actor=service.API)
        mine = (await service.do_submit(s, draft, actor=service.API)).order
        await service.do_set_tracking(s, mine, carrier="cdek", track="1234567890", actor=service.API)
        other = Customer(name="Чужой")
        s.add(other)
        await s.flush()
        foreign = await service.do_create_draft(s, customer_id=other.id, actor=service.API, source="api")
        await service.do_add_line(s, foreign, ids["SOCK-1"], 1, actor=service.API)
        theirs = (await service.do_submit(s, foreign, actor=service.API)).order
    for phrase in (f"#{mine.number}", f"заказ {mine.number}", f"{mine.number}"):
        text, rows = await say(world, emu, phrase)
        assert f"#{mine.number}" in text and "Новый" in text and "1234567890" in text
        assert any(b.get("url") for row in rows for b in row)  # the tracking link
    text, _ = await say(world, emu, f"#{theirs.number}")
    assert "не нашёл" in text or "could not find" in text
    text, rows = await say(world, emu, "мой заказ")
    data = button(rows, f"#{mine.number}")
    assert f"#{theirs.number}" not in json.dumps(rows)
    text, _ = await press(world, emu, data)
    assert f"#{mine.number}" in text


async def test_forged_and_foreign_payloads_are_refused_without_effect(
    world: World, emu: TelegramEmulator, settings: Settings
) -> None:
    ids = await seed_catalog(world.factory)
    await say(world, emu, "привет")
    customer_id = await world.customer_of("telegram", str(CHAT))
    before = await world.state(customer_id)
    assert before is not None
    genuine = sign(settings.secret_key, customer_id, Action("add", str(ids["RUN-42"])))
    forged = [
        genuine[:-8] + "AAAAAAAA",  # wrong signature
        sign(settings.secret_key, customer_id + 1, Action("add", str(ids["RUN-42"]))),  # someone else's
        sign("another-shop-secret-key", customer_id, Action("add", str(ids["RUN-42"]))),
        "cart:add:5",  # not ours at all
        "b1:add:" + str(ids["RUN-42"]),
    ]
    count = len(sent(emu))
    for data in forged:
        await world.telegram(callback_update(CHAT, data), emu)
    assert len(sent(emu)) == count  # no answer
    async with world.factory() as session:
        assert (await session.execute(select(Order))).first() is None  # no cart, no reservation
        stock = (await session.execute(select(Stock).where(Stock.product_id == ids["RUN-42"]))).scalar_one()
        assert stock.reserved == 0
        after = await session.get(BotState, customer_id)
    assert after is not None and (after.version, after.data) == (before.version, before.data)
    assert len(emu.requests("answerCallbackQuery")) == len(forged)  # the spinner still stops
    # the genuine payload works
    text, _ = await press(world, emu, genuine)
    async with world.factory() as session:
        order = (await session.execute(select(Order))).scalar_one()
    assert order.status == DRAFT and "Кроссовки" in text


async def test_cart_quantities_follow_the_stock(world: World, emu: TelegramEmulator) -> None:
    ids = await seed_catalog(world.factory)

    async def reserved() -> int:
        async with world.factory() as session:
            row = (await session.execute(select(Stock).where(Stock.product_id == ids["RUN-42"]))).scalar_one()
            return row.reserved

    _, rows = await say(world, emu, "есть ли кроссовки")
    _, rows = await press(world, emu, button(rows, "Кроссовки"))
    _, rows = await press(world, emu, button(rows, "В корзину"))
    text, rows = await say(world, emu, "корзина")
    assert "Кроссовки беговые × 1" in text and await reserved() == 1
    _, line = await press(world, emu, button(rows, "Кроссовки беговые × 1"))
    plus = button(line, "+1")
    for expected in (2, 3, 4, 5):
        text, _ = await press(world, emu, plus)
        assert f"Кроссовки беговые × {expected}" in text
    text, _ = await press(world, emu, plus)  # only 5 in stock
    assert "осталось только 5 шт." in text and "× 5" in text
    assert await reserved() == 5
    text, _ = await press(world, emu, button(line, "−1"))
    assert "× 4" in text and await reserved() == 4
    text, _ = await press(world, emu, button(line, "Удалить"))
    assert "пуста" in text and await reserved() == 0


async def test_english_speaking_customer_gets_english(world: World, emu: TelegramEmulator) -> None:
    english = user(777, "John", "Smith", "john", language_code="en")
    await world.telegram(text_update(777, "hello", sender=english), emu)
    text, rows = sent(emu)[-1]
    assert text.startswith("Hello! I am the shop's assistant")
    assert [b["text"] for row in rows for b in row] == ["My orders", "Catalog", "Cart", "Manager"]
