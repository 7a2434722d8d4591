"""The bot's checkout with a СДЭК pickup point, over the Telegram emulator and the СДЭК emulator, on both
databases: the customer types a city, the bot (through an outbox task, outside its transaction) offers that
city's pickup points with the tariff's cost, the chosen point and the cost go into the order; an unknown city
is said so; while СДЭК is down the customer is told to choose another method once the outbox gives up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.models import CarrierAccount, Order
from inbox.orders.carriers.service import _cdek_body, pickup_point_code
from inbox.settings import Settings
from tests.emulators.cdek import CdekEmulator
from tests.emulators.telegram import TelegramEmulator, contact_update, text_update
from tests.integration.bots_world import World, seed_catalog
from tests.integration.test_bots_telegram import CHAT, button, press, say, sent

__all__ = ["CHAT"]


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def cdek() -> Iterator[CdekEmulator]:
    with CdekEmulator() as e:
        yield e


@pytest.fixture
async def world(
    factory: SessionFactory, settings: Settings, emu: TelegramEmulator, cdek: CdekEmulator
) -> AsyncIterator[World]:
    w = World(
        factory,
        settings.with_(
            telegram_rate_per_chat=1000.0,
            telegram_rate_per_bot=1000.0,
            outbox_backoff_cap=1.0,
            outbox_max_attempts=2,
        ),
    )
    await w.add_telegram(emu)
    async with transaction(factory) as session:
        session.add(
            CarrierAccount(
                kind="cdek",
                name="cdek",
                settings={"api_base": cdek.base_url, "tariff_code": 136},
                secrets={"client_id": cdek.client_id, "client_secret": cdek.client_secret},
                state={},
            )
        )
    yield w
    await w.close()


async def _to_delivery_step(world: World, emu: TelegramEmulator) -> list[list[dict[str, object]]]:
    await seed_catalog(world.factory)
    text, rows = await say(world, emu, "Есть ли кроссовки?")
    text, rows = await press(world, emu, button(rows, "Кроссовки"))
    text, rows = await press(world, emu, button(rows, "корзину"))
    text, rows = await press(world, emu, button(rows, "Оформить"))
    await say(world, emu, "Иван Петров")
    await world.telegram(contact_update(CHAT, "79991234567"), emu)
    text, rows = sent(emu)[-1]
    assert "доставить" in text.lower()
    return rows


async def _type(
    world: World, emu: TelegramEmulator, text: str
) -> list[tuple[str, list[list[dict[str, object]]]]]:
    before = len(sent(emu))
    await world.telegram(text_update(CHAT, text), emu)
    return sent(emu)[before:]


async def test_customer_picks_a_cdek_pickup_point_and_the_cost_goes_into_the_total(
    world: World, emu: TelegramEmulator, cdek: CdekEmulator
) -> None:
    rows = await _to_delivery_step(world, emu)
    text, rows = await press(world, emu, button(rows, "Пункт выдачи СДЭК"))
    assert "город" in text.lower()
    unknown = await _type(world, emu, "Атлантида")
    assert "Атлантида" in unknown[-1][0] and "нет пунктов выдачи" in unknown[-1][0]
    replies = await _type(world, emu, "Санкт-Петербург")
    assert "Ищу пункты выдачи" in replies[0][0]  # answered at once; СДЭК is asked outside the turn
    text, rows = replies[-1]
    assert "450" in text and "Санкт-Петербург" in text  # 350 ₽ + 100 ₽ to St Petersburg, 0.5 kg
    assert "Москва, ул. Тверская" not in json.dumps(rows, ensure_ascii=False)  # only that city's points
    text, rows = await press(world, emu, button(rows, "Невский"))
    assert "Невский пр., 28" in text and "6 440" in text.replace("\u00a0", " ")  # 5 990 ₽ + 450 ₽
    text, rows = await press(world, emu, button(rows, "Подтвердить"))
    async with world.factory() as session:
        order = (await session.execute(select(Order).where(Order.number.is_not(None)))).scalar_one()
    assert f"#{order.number}" in text
    assert order.delivery_method == "cdek_pvz" and order.delivery_cost == 45000
    assert order.total == 599000 + 45000
    assert pickup_point_code(order) == "SPB7"
    assert order.delivery_address is not None and "Невский пр., 28" in order.delivery_address
    body = _cdek_body(order, [], type("C", (), {"name": "Иван", "phone": "+79991234567"})(), {})
    assert body["delivery_point"] == "SPB7" and "to_location" not in body  # handed over to that point
    searched = [r for r in cdek.requests if r["path"] == "/v2/deliverypoints"]
    assert searched and searched[-1]["query"] == {"city_code": "137", "type": "PVZ"}


async def test_cdek_down_the_customer_is_asked_for_another_method(
    world: World, emu: TelegramEmulator, cdek: CdekEmulator
) -> None:
    rows = await _to_delivery_step(world, emu)
    await press(world, emu, button(rows, "Пункт выдачи СДЭК"))
    cdek.down = 1000
    replies = await _type(world, emu, "Москва")
    assert len(replies) == 1 and "Ищу пункты выдачи" in replies[0][0]
    for _ in range(100):  # the task is retried with backoff, then given up
        await asyncio.sleep(0.2)
        await world.drain()
        if any("не отвечает" in t for t, _ in sent(emu)):
            break
    text, rows = sent(emu)[-1]
    assert any("не отвечает" in t for t, _ in sent(emu)[-2:])
    assert "Курьер" in json.dumps(rows, ensure_ascii=False)  # the delivery methods again
    cdek.down = 0
    text, rows = await press(world, emu, button(rows, "Курьер"))
    text, rows = await say(world, emu, "Москва, Тверская 1, кв. 2")
    assert "Москва, Тверская 1" in text
