"""The bot's batched turns (``BotEngine.on_events``, how ``inbox serve`` wires it: one transaction for the
turns of a processed batch, their reads done up front) answer exactly as turn-by-turn (``on_event``) does:
the same replies in the same order per chat, and the same state afterwards, for the same messages arriving
in one batch: several customers, several messages of one customer in the batch, a hand-off in the middle,
repeated misunderstandings, a customer a manager holds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from inbox.core.ingest import store_raw
from inbox.core.types import RawEvent, WebhookRequest
from inbox.db import SessionFactory, transaction
from inbox.models import BotState, Identity, Manager, Thread
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.integration.bots_world import TG_SECRET, World, seed_catalog

TOKENS = {False: "1001:turn-by-turn", True: "1002:batched"}
SCRIPT: list[tuple[int, str]] = [
    (501, "Здравствуйте"),
    (502, "Есть ли кроссовки?"),
    (501, "Есть ли носки?"),
    (503, "Привет"),
    (502, "менеджер"),
    (502, "а кепка есть?"),  # handed off: silent
    (501, "что-то непонятное"),
    (504, "Добрый день"),  # a manager holds this thread (assigned below): silent
    *[(505, f"вопрос {i}") for i in range(12)],  # misunderstood until handed off, then silent
]


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


async def run_world(
    factory: SessionFactory, settings: Settings, emu: TelegramEmulator, batched: bool
) -> tuple[dict[int, list[str]], dict[int, tuple[str, bool, dict[str, Any]]]]:
    world = World(factory, settings, batched=batched)
    token = TOKENS[batched]
    account = await world.add_account(
        "telegram",
        f"tg-{batched}",
        {"api_base": emu.base_url},
        {"token": token, "webhook_secret": TG_SECRET},
    )
    world.accounts["telegram"] = account
    try:
        channel = await world.hub.get(account)
        assert channel is not None

        # A first message from 504 makes the customer and thread, which a manager then takes.
        def raw(update_id: int, chat: int, text: str) -> RawEvent:
            update = {"update_id": update_id, **text_update(chat, text, sender=user(chat, f"Имя{chat}"))}
            body = json.dumps(update, ensure_ascii=False).encode()
            headers = {"x-telegram-bot-api-secret-token": TG_SECRET}
            result = channel.handle_webhook(WebhookRequest(headers=headers, body=body, query={}, url=""))
            return result.events[0]

        await store_raw(factory, account, [raw(1, 504, "Начало")])
        while await world.processor.process_batch():
            pass
        async with transaction(factory) as s:
            customer = (
                await s.execute(
                    select(Identity.customer_id).where(
                        Identity.account_id == account, Identity.external_id == "504"
                    )
                )
            ).scalar_one()
            manager = Manager(name=f"M{batched}", email=f"m{int(batched)}@shop.example", password_hash="x")
            s.add(manager)
            await s.flush()
            await s.execute(
                update(Thread).where(Thread.customer_id == customer).values(assignee_id=manager.id)
            )
        events = [raw(10 + i, chat, text) for i, (chat, text) in enumerate(SCRIPT)]
        await store_raw(factory, account, events)  # all committed before processing starts: one batch
        while await world.processor.process_batch():
            pass
        await world.drain()
        replies: dict[int, list[str]] = {}
        for r in emu.requests("sendMessage", token=token):
            replies.setdefault(int(r.params["chat_id"]), []).append(str(r.params["text"]))
        states: dict[int, tuple[str, bool, dict[str, Any]]] = {}
        async with factory() as s:
            for chat in sorted({c for c, _ in SCRIPT}):
                customer_id = (
                    await s.execute(
                        select(Identity.customer_id).where(
                            Identity.account_id == account, Identity.external_id == str(chat)
                        )
                    )
                ).scalar_one()
                st = await s.get(BotState, customer_id)
                if st is not None:
                    data = {k: v for k, v in (st.data or {}).items() if k != "menu"}
                    states[chat] = (st.step, st.handoff, data)
        return replies, states
    finally:
        await world.close()


async def test_batched_turns_answer_as_turn_by_turn(
    factory: SessionFactory, settings: Settings, emu: TelegramEmulator
) -> None:
    await seed_catalog(factory)
    fast = settings.with_(telegram_rate_per_chat=1000.0, telegram_rate_per_bot=1000.0)
    one_by_one, states_one = await run_world(factory, fast, emu, batched=False)
    batched, states_batched = await run_world(factory, fast, emu, batched=True)
    assert one_by_one == batched
    assert states_one == states_batched
    # the scenario exercised what it claims to
    assert set(one_by_one) >= {501, 502, 503, 505}
    assert len(one_by_one[504]) == 1  # greeted before a manager took the thread, silent after
    assert states_one[502][1] is True  # handed off
    assert len(one_by_one[505]) < 12 and states_one[505][1] is True  # handed off after misunderstandings
