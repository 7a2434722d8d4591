"""Telegram Payments through the Bot API emulator and the real server (poller, fast path, outbox), on both
databases, with the bot on and off: invoice, pre-checkout answered against live stock behind an ingest
backlog, successful payment recorded once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Identity, Order, OrderLine, Payment, PaymentAccount, Stock, Thread
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.orders.payments.telegram import send_invoice
from inbox.settings import Settings
from tests.emulators.telegram import (
    DEFAULT_TOKEN,
    TelegramEmulator,
    pre_checkout_update,
    successful_payment_update,
    text_update,
)
from tests.integration.bots_world import seed_catalog
from tests.server import threaded_server

CHAT = 777


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


async def _until(check: Any, what: str) -> Any:
    for _ in range(300):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen")


async def _setup(factory: SessionFactory, tg: TelegramEmulator) -> tuple[int, dict[str, int]]:
    products = await seed_catalog(factory)
    async with transaction(factory) as session:
        bot = ChannelAccount(
            kind="telegram",
            name="tg",
            settings={"api_base": tg.base_url, "poll_timeout": 1},
            secrets={"token": DEFAULT_TOKEN},
            state={},
        )
        session.add(bot)
        await session.flush()
        session.add(
            PaymentAccount(
                kind="telegram",
                name="tgpay",
                settings={"channel_id": bot.id},
                secrets={"provider_token": "381764678:TEST:1"},
            )
        )
        return bot.id, products


async def _order(factory: SessionFactory, settings: Settings, products: dict[str, int]) -> Order:
    async def customer() -> int | None:
        async with factory() as session:
            found: int | None = (
                await session.execute(select(Identity.customer_id).where(Identity.external_id == str(CHAT)))
            ).scalar_one_or_none()
            return found

    customer_id = await _until(customer, "the customer's first message")
    async with factory() as session:
        thread_id = (
            await session.execute(select(Thread.id).where(Thread.customer_id == customer_id))
        ).scalar_one()

    async def action(session: Any, fx: Effects) -> Order:
        order = await service.do_create_draft(
            session, customer_id=customer_id, thread_id=thread_id, actor=service.BOT
        )
        await service.do_add_line(session, order, products["SOCK-1"], 2, actor=service.BOT)
        await service.do_add_line(session, order, products["RUN-42"], 1, actor=service.BOT)
        change = await service.do_submit(session, order, actor=service.BOT)
        await after_status(session, fx, change, notify=False)
        return change.order

    from inbox.core.events import EventBus

    return await run_order_action(factory, EventBus(), settings, action)


@pytest.mark.parametrize("bots", [True, False], ids=["bot-on", "bot-off"])
async def test_invoice_pre_checkout_and_payment(
    factory: SessionFactory, settings: Settings, tg: TelegramEmulator, bots: bool
) -> None:
    settings = settings.with_(bots_enabled=bots, telegram_rate_per_chat=1000.0)
    bot_id, products = await _setup(factory, tg)
    with threaded_server(settings, run_workers=True):
        tg.queue_update(text_update(CHAT, "хочу носки"))
        order = await _order(factory, settings, products)

        from inbox.channels.hub import ChannelHub

        hub = ChannelHub(factory, settings)
        try:
            payment = await send_invoice(factory, hub.get, settings, order.id)
        finally:
            await hub.close()
        invoice = tg.requests("sendInvoice")[-1].params
        prices = invoice["prices"]
        assert sum(p["amount"] for p in prices) == order.total == payment.amount
        assert invoice["payload"] == f"inbox:{payment.id}" and invoice["currency"] == "RUB"
        receipt = json.loads(invoice["provider_data"]) if invoice.get("provider_data") else None
        assert receipt is None  # the customer left no email or phone: no receipt data to pass

        # A backlog of ordinary messages first: the pre-checkout answer does not wait behind it.
        for i in range(40):
            tg.queue_update(text_update(CHAT, f"сообщение {i}"))
        tg.queue_update(pre_checkout_update(CHAT, f"inbox:{payment.id}", order.total, query_id="q-ok"))
        answers = await tg.wait_for_requests("answerPreCheckoutQuery", 1, timeout=10)
        assert answers[-1].params["pre_checkout_query_id"] == "q-ok"
        assert answers[-1].params["ok"] is True

        # A wrong amount and a sold-out line are refused with a reason.
        tg.queue_update(
            pre_checkout_update(CHAT, f"inbox:{payment.id}", order.total - 1, query_id="q-amount")
        )
        answers = await tg.wait_for_requests("answerPreCheckoutQuery", 2, timeout=10)
        assert answers[-1].params["ok"] is False
        assert "устарел" in str(answers[-1].params["error_message"])
        async with transaction(factory) as session:
            await session.execute(
                update(OrderLine)
                .where(OrderLine.order_id == order.id, OrderLine.product_id == products["RUN-42"])
                .values(reserved=False)
            )
            await session.execute(
                update(Stock).where(Stock.product_id == products["RUN-42"]).values(on_hand=0, reserved=0)
            )
        tg.queue_update(pre_checkout_update(CHAT, f"inbox:{payment.id}", order.total, query_id="q-stock"))
        answers = await tg.wait_for_requests("answerPreCheckoutQuery", 3, timeout=10)
        assert answers[-1].params["ok"] is False
        assert "Кроссовки беговые" in str(answers[-1].params["error_message"])

        paid = successful_payment_update(CHAT, f"inbox:{payment.id}", order.total, charge_id="tg-charge-1")
        tg.queue_update(paid)
        tg.queue_update(dict(paid))  # Telegram delivers it again (new update id, same charge)

        async def is_paid() -> Order | None:
            async with factory() as session:
                row = await session.get(Order, order.id)
                return row if row is not None and row.payment_state == "paid" else None

        done = await _until(is_paid, "the payment")
        assert done.paid_amount == order.total and done.status == "confirmed"
        async with factory() as session:
            rows = list(
                (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalars()
            )
        assert [(p.provider, p.status, p.external_id) for p in rows] == [
            ("telegram", "succeeded", "tg-charge-1")
        ]
        assert bot_id
