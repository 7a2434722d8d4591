"""The bot over VK (native buttons), SMS (numbered menus) and email (auto-replies ignored), through the real
adapters, the emulators, the ingest path, the outbox and the dispatcher."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from inbox.bots import hand_back, import_config
from inbox.bots.config import DAYS
from inbox.channels.email.account import email_account_config
from inbox.core.ingest import apply_message, store_raw
from inbox.core.types import ChannelKind, InboundMessage, RawEvent
from inbox.db import SessionFactory, transaction
from inbox.models import Author, Category, Customer, Direction, Manager, Message, Product, Thread
from inbox.orders import service
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator
from tests.emulators.vk import VKEmulator
from tests.integration.bots_world import VK_GROUP, VK_TOKEN, World, seed_catalog
from tests.integration.email_conftest import SmtpHandler, SmtpServer, authenticator
from tests.services import free_port

VK_USER = 101
PHONE = "+79990001122"


@pytest.fixture
async def vk() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(group_id=VK_GROUP, token=VK_TOKEN, max_wait=2) as server:
        server.add_user(VK_USER, "Иван", "Петров")
        yield server


@pytest.fixture(scope="module")
def smsemu() -> Iterator[SMSEmulator]:
    with SMSEmulator() as emulator:
        yield emulator


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings, smsemu: SMSEmulator) -> AsyncIterator[World]:
    smsemu.reset()
    w = World(factory, settings)
    await w.add_sms(smsemu)
    yield w
    await w.close()


def vk_buttons(sent: Any) -> list[tuple[str, Any]]:
    rows = (sent.keyboard or {}).get("buttons", [])
    return [(b["action"]["label"], b["action"].get("payload")) for row in rows for b in row]


def vk_payload(sent: Any, label_part: str) -> Any:
    for label, payload in vk_buttons(sent):
        if label_part in label:
            return payload
    raise AssertionError(f"no button {label_part!r} in {vk_buttons(sent)}")


async def vk_say(world: World, vk: VKEmulator, text: str, replies: int = 1) -> Any:
    before = len(vk.sent)
    await world.vk_text(VK_USER, text)
    assert len(vk.sent) == before + replies, f"{text!r}: {[s.text for s in vk.sent[before:]]}"
    return vk.sent[-1] if replies else None


async def sms_say(world: World, emu: SMSEmulator, text: str, replies: int = 1) -> str | None:
    before = len(emu.sent)
    await world.sms(emu, PHONE, text)
    assert len(emu.sent) == before + replies, f"{text!r}: {[s['body'] for s in emu.sent[before:]]}"
    return str(emu.sent[-1]["body"]) if replies else None


# ---- VK: catalog, hand-off, manager silence --------------------------------------------------------------


async def test_vk_catalog_search_and_browse(world: World, vk: VKEmulator) -> None:
    ids = await seed_catalog(world.factory)
    async with transaction(world.factory) as s:
        shoes = Category(name="Обувь")
        s.add(shoes)
        await s.flush()
        await s.execute(update(Product).where(Product.id == ids["RUN-42"]).values(category_id=shoes.id))
    await world.add_vk(vk)
    found = await vk_say(world, vk, "есть ли носки?")
    assert "носки" in found.text
    card_payload = vk_payload(found, "Носки спортивные")
    assert isinstance(card_payload, dict) and len(card_payload["cmd"].encode()) <= 64
    await world.vk_press(VK_USER, card_payload)
    card = vk.sent[-1]
    assert "Носки спортивные" in card.text and "490" in card.text and "20 шт" in card.text
    nothing = await vk_say(world, vk, "do you have unicorns?")
    assert "unicorns" in nothing.text and not any("—" in label for label, _ in vk_buttons(nothing))
    cats = await vk_say(world, vk, "каталог")
    await world.vk_press(VK_USER, vk_payload(cats, "Обувь"))
    assert any("Кроссовки беговые" in label for label, _ in vk_buttons(vk.sent[-1]))
    out_of_stock = await vk_say(world, vk, "есть ли кепка")
    await world.vk_press(VK_USER, vk_payload(out_of_stock, "Кепка"))
    assert "Нет в наличии" in vk.sent[-1].text
    assert not any("В корзину" in label for label, _ in vk_buttons(vk.sent[-1]))
    assert vk.calls("messages.sendMessageEventAnswer")  # presses are acknowledged


async def test_vk_handoff_then_silence_until_handed_back(world: World, vk: VKEmulator) -> None:
    await world.add_vk(vk)
    await vk_say(world, vk, "привет")
    answer = await vk_say(world, vk, "оператор")
    assert "менеджер" in answer.text.lower()
    customer_id = await world.customer_of("vk", str(VK_USER))
    state = await world.state(customer_id)
    assert state is not None and state.handoff and state.handoff_reason == "asked"
    async with world.factory() as s:
        thread = (await s.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()
        flagged = (
            await s.execute(
                select(Message).where(Message.direction == Direction.EVENT, Message.thread_id == thread.id)
            )
        ).scalar_one()
    assert thread.assignee_id is None and flagged.meta["kind"] == "handoff"
    assert any(e.type == "thread.updated" and e.data.get("handoff") for e in world.seen)
    await vk_say(world, vk, "есть ли носки?", replies=0)  # silent while handed off
    await vk_say(world, vk, "/start", replies=0)
    async with transaction(world.factory) as s:
        assert await hand_back(s, customer_id)
    await vk_say(world, vk, "привет")  # the bot speaks again


async def test_vk_handoff_by_button_and_release_when_closed(world: World, vk: VKEmulator) -> None:
    await world.add_vk(vk)
    menu = await vk_say(world, vk, "привет")
    await world.vk_press(VK_USER, vk_payload(menu, "Менеджер"))
    customer_id = await world.customer_of("vk", str(VK_USER))
    state = await world.state(customer_id)
    assert state is not None and state.handoff and state.handoff_reason == "button"
    async with transaction(world.factory) as s:
        thread = (await s.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()
        thread.status = "closed"
    from inbox.core.events import Event

    await world.bus.publish(
        Event("thread.updated", thread_id=thread.id, customer_id=customer_id, data={"status": "closed"})
    )
    state = await world.state(customer_id)
    assert state is not None and not state.handoff
    await vk_say(world, vk, "привет")


async def test_vk_silent_while_a_manager_holds_the_thread(world: World, vk: VKEmulator) -> None:
    await world.add_vk(vk)
    await vk_say(world, vk, "привет")
    customer_id = await world.customer_of("vk", str(VK_USER))
    async with transaction(world.factory) as s:
        manager = Manager(email="m@shop.example", name="Мария", password_hash="x")
        s.add(manager)
        await s.flush()
        await s.execute(
            update(Thread).where(Thread.customer_id == customer_id).values(assignee_id=manager.id)
        )
    await vk_say(world, vk, "мой заказ", replies=0)
    await vk_say(world, vk, "оператор", replies=0)
    async with transaction(world.factory) as s:
        await s.execute(update(Thread).where(Thread.customer_id == customer_id).values(assignee_id=None))
        thread = (await s.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()
        s.add(
            Message(
                thread_id=thread.id,
                customer_id=customer_id,
                direction=Direction.OUT,
                author=Author.MANAGER,
                text="Здравствуйте!",
                meta={},
                revisions=[],
                delivery="sent",
            )
        )
    await vk_say(world, vk, "мой заказ", replies=0)  # a manager answered a moment ago: still quiet
    async with transaction(world.factory) as s:
        await s.execute(
            update(Message)
            .where(Message.author == Author.MANAGER)
            .values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    await vk_say(world, vk, "мой заказ")


# ---- SMS: numbered menus, phone lookup, misunderstanding, preferences ------------------------------------


async def test_sms_orders_by_phone_and_numbered_menu_reply(world: World, smsemu: SMSEmulator) -> None:
    ids = await seed_catalog(world.factory)
    numbers = []
    async with transaction(world.factory) as s:
        by_phone = Customer(name="Ольга", phone=PHONE, phone_verified=False)  # a manager took the orders
        s.add(by_phone)
        await s.flush()
        for qty in (1, 2):
            draft = await service.do_create_draft(s, customer_id=by_phone.id, actor=service.API, source="api")
            await service.do_add_line(s, draft, ids["SOCK-1"], qty, actor=service.API)
            numbers.append((await service.do_submit(s, draft, actor=service.API)).order.number)
    first, second = numbers
    body = await sms_say(world, smsemu, "мой заказ")
    assert body is not None
    assert f"1. #{second}" in body and f"2. #{first}" in body  # newest first, numbered
    body = await sms_say(world, smsemu, "2")
    assert (
        body is not None
        and f"#{first}" in body
        and "Новый" in body
        and f"#{second}" not in body.split("\n")[0]
    )
    body = await sms_say(world, smsemu, "1")  # the status reply's own menu: 1 = My orders
    assert body is not None and f"#{second}" in body
    body = await sms_say(world, smsemu, "9")  # not on the menu, not understood
    assert body is not None and "не понял" in body


async def test_sms_two_misunderstood_messages_hand_off(world: World, smsemu: SMSEmulator) -> None:
    await sms_say(world, smsemu, "привет")
    body = await sms_say(world, smsemu, "абракадабра")
    assert body is not None and "не понял" in body and "1. " in body
    body = await sms_say(world, smsemu, "ыыыы")
    customer_id = await world.customer_of("sms", PHONE)
    state = await world.state(customer_id)
    assert state is not None and state.handoff and state.handoff_reason == "misunderstood"
    assert body is not None and "менеджер" in body.lower()
    await sms_say(world, smsemu, "привет", replies=0)


async def test_sms_notify_me_here_and_rate_limit(world: World, smsemu: SMSEmulator) -> None:
    async with transaction(world.factory) as s:
        await import_config(s, "[limits]\nreplies_per_minute = 3\n")
    await sms_say(world, smsemu, "уведомляйте здесь")
    customer_id = await world.customer_of("sms", PHONE)
    async with world.factory() as s:
        customer = await s.get(Customer, customer_id)
    assert customer is not None and customer.preferred_channel == "sms"
    await sms_say(world, smsemu, "каталог")
    await sms_say(world, smsemu, "корзина")
    await sms_say(world, smsemu, "каталог", replies=0)  # the fourth reply within a minute is not sent


async def test_faq_greeting_and_outside_hours(world: World, smsemu: SMSEmulator, settings: Settings) -> None:
    tomorrow = datetime.now(ZoneInfo("Europe/Moscow")) + timedelta(days=1)
    week = "\n".join(
        f'{d} = "{"10:00-11:00" if i == tomorrow.weekday() else "closed"}"' for i, d in enumerate(DAYS)
    )
    doc = f"""
greeting = {{ ru = "Добро пожаловать в «Бегуна»!", en = "Welcome to Runner!" }}

[hours]
timezone = "Europe/Moscow"
[hours.week]
{week}

[[faq]]
locale = "ru"
pattern = "доставк"
answer = "Доставка по Москве 300 ₽, на следующий день."

[[faq]]
locale = "en"
pattern = "shipping"
answer = "Shipping in Moscow costs 300 RUB."
"""
    async with transaction(world.factory) as s:
        assert await import_config(s, doc) == (2, 2)
    body = await sms_say(world, smsemu, "Здравствуйте!")
    assert body is not None and body.startswith("Добро пожаловать в «Бегуна»!")
    body = await sms_say(world, smsemu, "Сколько стоит доставка?")
    assert body is not None and body.startswith("Доставка по Москве 300 ₽")
    body = await sms_say(world, smsemu, "оператор")
    assert body is not None and "10:00" in body and tomorrow.strftime("%d.%m") in body


# ---- email: auto-replies are never answered --------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    handler = SmtpHandler(None)
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


def letter(key: str, text: str, **headers: str) -> RawEvent:
    mail = EmailMessage()
    mail["From"] = "Покупатель <buyer@example.com>"
    mail["To"] = "shop@romashka.ru"
    mail["Subject"] = "Вопрос"
    mail["Message-ID"] = f"<{key}@example.com>"
    mail["Date"] = "Wed, 25 Nov 2026 12:00:00 +0000"
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return RawEvent(key=key, payload={"raw_b64": base64.b64encode(mail.as_bytes()).decode()})


async def test_email_auto_replies_are_ignored_and_a_real_letter_gets_a_numbered_menu(
    world: World, smtp: SmtpServer
) -> None:
    port = smtp.port
    settings, secrets = email_account_config(
        address="shop@romashka.ru",
        imap_host="127.0.0.1",
        smtp_host="127.0.0.1",
        smtp_port=port,
        password="secret",
        username="shop",
        security="none",
    )
    account_id = await world.add_account("email", "mail", settings, secrets)

    async def receive(event: RawEvent) -> None:
        await store_raw(world.factory, account_id, [event])
        while await world.processor.process_batch():
            pass
        await world.drain()

    await receive(letter("auto", "Я в отпуске. Мой заказ подождёт.", Auto_Submitted="auto-replied"))
    await receive(letter("bulk", "привет", Precedence="bulk"))
    async with world.factory() as s:
        stored = list((await s.execute(select(Message).where(Message.direction == Direction.IN))).scalars())
    assert [m.meta.get("auto") for m in stored] == [True, True]  # both stored, flagged by the adapter
    assert await world.bot_messages() == [] and smtp.handler.received == []
    await receive(letter("real", "мой заказ"))
    (reply,) = await world.bot_messages()
    assert reply.channel == "email" and reply.meta["buttons"] == [] and reply.delivery == "sent"
    (mail,) = smtp.handler.received
    body = message_from_bytes(mail.data, policy=default_policy).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert mail.rcpt_tos == ["buyer@example.com"]
    assert "1. " in text and "2. " in text


async def test_concurrent_turns_of_one_customer_both_land(world: World, settings: Settings) -> None:
    """Two engines (two processes) handle two messages of one customer at the same time: the state row
    serialises them (row lock on PostgreSQL, compare-and-set on the version everywhere)."""
    import asyncio

    from inbox.bots import BotEngine
    from inbox.core.events import Event

    account_id = world.accounts["sms"]
    ids = []
    for n, text in enumerate(("каталог", "корзина")):
        msg = InboundMessage(
            kind=ChannelKind.SMS,
            account_id=account_id,
            external_user_id=PHONE,
            external_message_id=f"SMconcurrent{n}",
            sent_at=datetime.now(UTC),
            text=text,
        )
        async with transaction(world.factory) as s:
            new = await apply_message(s, msg, [])
        assert new is not None
        ids.append((new.id, new.customer_id))
    other = BotEngine(world.factory, settings)
    await asyncio.gather(
        *(
            engine.on_event(
                Event(
                    "message.new", message_id=mid, customer_id=cid, data={"direction": "in", "channel": "sms"}
                )
            )
            for engine, (mid, cid) in zip((world.engine, other), ids, strict=True)
        )
    )
    replies = await world.bot_messages()
    assert len(replies) == 2
    state = await world.state(ids[0][1])
    assert state is not None and state.version == 2 and state.window_replies == 2


async def test_sms_checkout_with_numbered_replies(world: World, smsemu: SMSEmulator) -> None:
    from inbox.models import Order, Stock

    ids = await seed_catalog(world.factory)
    body = await sms_say(world, smsemu, "есть ли носки?")
    assert body is not None and "1. Носки спортивные" in body
    body = await sms_say(world, smsemu, "1")  # the product card
    assert body is not None and "В наличии: 20 шт." in body and "1. В корзину" in body
    body = await sms_say(world, smsemu, "1")  # add to cart
    assert body is not None and "Носки спортивные × 1" in body and "1. Оформить заказ" in body
    body = await sms_say(world, smsemu, "1")  # checkout: the name
    assert body is not None and "имя" in body
    body = await sms_say(world, smsemu, "Ольга")
    assert body is not None and f"1. {PHONE}" in body  # the number we know from the SMS sender
    body = await sms_say(world, smsemu, "8 (999) 000-11-22")  # typed by hand works too
    assert body is not None and "1. Самовывоз" in body and "2. Курьер" in body
    body = await sms_say(world, smsemu, "1")  # pickup: no address needed
    assert body is not None and "Ольга" in body and PHONE in body and "1. Подтвердить" in body
    body = await sms_say(world, smsemu, "1")
    async with world.factory() as s:
        order = (await s.execute(select(Order).where(Order.number.is_not(None)))).scalar_one()
        stock = (await s.execute(select(Stock).where(Stock.product_id == ids["SOCK-1"]))).scalar_one()
    assert body is not None and f"#{order.number}" in body
    assert (order.delivery_method, order.delivery_address, order.total) == ("pickup", None, 49000)
    assert stock.reserved == 1
