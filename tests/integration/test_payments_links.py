"""The payment link in the conversation, through the real adapters and the emulators, on both databases: a
button in Telegram, the bare link by SMS, a button in the email; the panel's payment section over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.core.security import hash_password
from inbox.db import SessionFactory, transaction
from inbox.models import Customer, Identity, Manager, Message, Order, PaymentAccount, Thread
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.orders.payments.links import send_payment_link
from inbox.orders.payments.service import payment_link
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator
from tests.emulators.telegram import TelegramEmulator, text_update
from tests.emulators.yookassa import YooKassaEmulator
from tests.integration.bots_world import World, seed_catalog
from tests.server import threaded_server

CHAT = 5151
PHONE = "+79161234567"


@pytest.fixture
def yk() -> Iterator[YooKassaEmulator]:
    with YooKassaEmulator() as e:
        yield e


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def sms() -> Iterator[SMSEmulator]:
    with SMSEmulator() as emu:
        yield emu


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings, yk: YooKassaEmulator) -> AsyncIterator[World]:
    w = World(factory, settings.with_(telegram_rate_per_chat=1000.0, telegram_rate_per_bot=1000.0))
    async with transaction(factory) as session:
        session.add(
            PaymentAccount(
                kind="yookassa",
                name="main",
                settings={"shop_id": yk.shop_id, "api_base": yk.base_url},
                secrets={"secret_key": yk.secret_key},
            )
        )
    yield w
    await w.close()


async def _order_for(world: World, kind: str, external_id: str, products: dict[str, int]) -> Order:
    async with world.factory() as session:
        customer_id = (
            await session.execute(
                select(Identity.customer_id).where(Identity.kind == kind, Identity.external_id == external_id)
            )
        ).scalar_one()
        thread_id = (
            await session.execute(select(Thread.id).where(Thread.customer_id == customer_id))
        ).scalar_one()

    async def action(session: Any, fx: Effects) -> Order:
        order = await service.do_create_draft(
            session, customer_id=customer_id, thread_id=thread_id, actor=service.BOT
        )
        await service.do_add_line(session, order, products["SOCK-1"], 3, actor=service.BOT)
        change = await service.do_submit(session, order, actor=service.BOT)
        await after_status(session, fx, change, notify=False)
        return change.order

    return await run_order_action(world.factory, world.bus, world.settings, action)


async def _send_link(world: World, order: Order) -> str:
    link = await payment_link(world.factory, world.settings, order.id)

    async def action(session: Any, fx: Effects) -> None:
        await send_payment_link(session, fx, await service.get_order(session, order.id), link)

    await run_order_action(world.factory, world.bus, world.settings, action)
    await world.drain()
    return link.url


async def test_telegram_button_sms_link_and_email_button(
    world: World, tg: TelegramEmulator, sms: SMSEmulator, yk: YooKassaEmulator
) -> None:
    products = await seed_catalog(world.factory)
    await world.add_telegram(tg)
    await world.add_sms(sms)
    await world.telegram(text_update(CHAT, "привет"), tg)
    await world.sms(sms, PHONE, "здравствуйте")

    tg_order = await _order_for(world, "telegram", str(CHAT), products)
    url = await _send_link(world, tg_order)
    assert url.startswith(yk.base_url + "/pay/")
    last = tg.requests("sendMessage")[-1]
    markup = last.params.get("reply_markup")
    markup = json.loads(markup) if isinstance(markup, str) else markup
    buttons = [b for row in markup["inline_keyboard"] for b in row]
    assert [b.get("url") for b in buttons] == [url]
    assert "1\u00a0470" in buttons[0]["text"] and "Оплатить" in buttons[0]["text"]
    assert f"№{tg_order.number}" in str(last.params["text"])

    sms_order = await _order_for(world, "sms", PHONE, products)
    sms_url = await _send_link(world, sms_order)
    assert sms_url != url
    body = str(sms.sent[-1]["body"])
    assert sms_url in body and f"№{sms_order.number}" in body

    # The email shape: the letter's HTML carries a button with the link (the message row holds it).
    async with transaction(world.factory) as session:
        customer = await session.get(Customer, sms_order.customer_id)
        assert customer is not None
        customer.locale = "en"
    again = await payment_link(world.factory, world.settings, sms_order.id)
    assert again.url == sms_url  # the same payment: nothing new at the provider
    assert len(yk.payments) == 2
    async with world.factory() as session:
        sent = (
            await session.execute(
                select(Message).where(Message.order_id == sms_order.id, Message.channel == "sms")
            )
        ).scalar_one()
        assert sent.meta["payment_link"] == sms_url
        assert sms_url in sent.meta["texts"]["email"]


def _signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    client.get("/login")
    token = client.cookies["csrftoken"]
    done = client.post(
        "/login", data={"email": "olga@shop.ru", "password": "olga-pass-123", "_csrf_token": token}
    )
    assert done.status_code in (302, 303), done.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or token  # a new token comes with sign-in
    client.headers["HX-Request"] = "true"
    return client


async def _wait_paid(factory: SessionFactory, order_id: int) -> Order:
    for _ in range(300):
        async with factory() as session:
            row = await session.get(Order, order_id)
            assert row is not None
            if row.payment_state == "paid":
                return row
        await asyncio.sleep(0.1)
    raise AssertionError("the order was not marked paid")


async def test_panel_sends_the_link_and_shows_payments(
    world: World, tg: TelegramEmulator, yk: YooKassaEmulator
) -> None:
    products = await seed_catalog(world.factory)
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "привет"), tg)
    order = await _order_for(world, "telegram", str(CHAT), products)
    second = await _order_for(world, "telegram", str(CHAT), products)
    async with transaction(world.factory) as session:
        session.add(Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123")))
        account_id = (await session.execute(select(PaymentAccount.id))).scalar_one()
    before = len(tg.requests("sendMessage"))
    with threaded_server(world.settings, run_workers=True) as base, closing(_signed_in(base)) as client:
        panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
        assert panel.status_code == 200
        assert 'id="send-payment-link"' in panel.text and "Ещё не оплачен" in panel.text
        sent = client.post(f"/ui/orders/{order.id}/payment-link")
        assert sent.status_code == 200, sent.text
        pid = next(iter(yk.payments))
        assert pid in sent.text and "ожидает оплаты" in sent.text
        found = await tg.wait_for_requests("sendMessage", count=before + 1, timeout=20)
        assert pid in json.dumps(found[-1].params.get("reply_markup"))

        yk.succeed(pid)
        hook = f"{base}/webhooks/yookassa/{account_id}"
        async with httpx.AsyncClient(timeout=30) as outside:
            assert (
                await outside.post(hook, json=yk.notification("payment.succeeded", pid))
            ).status_code == 200
        paid = await _wait_paid(world.factory, order.id)
        assert paid.status == "confirmed"  # on_paid of "new"
        panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
        assert 'data-summary="paid"' in panel.text and 'id="send-payment-link"' not in panel.text
        assert "bank_card" in panel.text

        yk.fail_next(1, status=503)
        down = client.post(f"/ui/orders/{second.id}/payment-link")
        assert down.status_code == 200 and "Платёжная система недоступна" in down.text

        # Paid twice (by hand, then by the link the customer still had): the overpayment is shown, not lost.
        retry = client.post(f"/ui/orders/{second.id}/payment-link")
        assert retry.status_code == 200 and len(yk.payments) == 2
        second_pid = next(p for p in yk.payments if p != pid)

        async def by_hand(session: Any, fx: Effects) -> None:
            current = await service.get_order(session, second.id)
            await service.do_set_payment(
                session, current, state="paid", amount=current.total, actor=service.API
            )

        await run_order_action(world.factory, world.bus, world.settings, by_hand)
        yk.succeed(second_pid)
        async with httpx.AsyncClient(timeout=30) as outside:
            note = yk.notification("payment.succeeded", second_pid)
            assert (await outside.post(hook, json=note)).status_code == 200
        for _ in range(300):
            async with world.factory() as session:
                row = await session.get(Order, second.id)
                assert row is not None
                if row.paid_amount == 2 * row.total:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the second payment was not recorded")
        panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": second.id})
        assert 'data-summary="overpaid"' in panel.text and "Переплата" in panel.text
