"""Order notifications and shop webhooks through the real outbox on uvicorn, on SQLite and PostgreSQL:
the Telegram customer gets the tracking link (text and button) once per status entry; the shop webhook is
signed, retried after a 500 and given up on a 4xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from inbox.core.events import EventBus
from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, Message, Order, Outbox
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.orders.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify
from inbox.settings import Settings
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.integration.test_telegram_flow import add_account
from tests.orders_factories import make_world
from tests.server import threaded_server

WEBHOOK_SECRET = "whsec-0123456789abcdef"
TRACK_URL = "https://www.pochta.ru/tracking?barcode=RA123456789RU"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def api_token(factory: SessionFactory) -> dict[str, str]:
    value = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(value)))
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


async def test_status_notification_reaches_telegram_with_the_tracking_link_once(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    world = await make_world(factory, {"KETTLE": (259900, 4)})
    await add_account(factory, emulator, "polling")
    auth = await api_token(factory)
    anna = user(501, "Анна", "Смирнова", username="anna_s", language_code="ru")
    emulator.queue_update(text_update(501, "Хочу чайник", sender=anna, message_id=1))

    with threaded_server(settings) as base:

        async def inbound() -> Message | None:
            async with factory() as s:
                return (
                    await s.execute(select(Message).where(Message.direction == "in"))
                ).scalar_one_or_none()

        first = await eventually(inbound)

        async def build(session: Any, fx: Effects) -> int:  # what the manager's panel does
            draft = await service.do_create_draft(
                session, customer_id=first.customer_id, thread_id=first.thread_id, actor=service.API
            )
            await service.do_add_line(session, draft, world.products["KETTLE"], 1, actor=service.API)
            change = await service.do_submit(session, draft, actor=service.API)
            await after_status(session, fx, change)
            assert change.order.number is not None
            return change.order.number

        number = await run_order_action(factory, EventBus(), settings, build)

        async def notices(count: int) -> list[Any]:  # the bot also answered "Хочу чайник" (bots on)
            found = [c for c in emulator.requests("sendMessage") if f"№{number}" in c.params["text"]]
            return found if len(found) >= count else []

        accepted = await eventually(lambda: notices(1))
        assert "принят" in accepted[0].params["text"]
        assert accepted[0].params["chat_id"] == 501

        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            for code in ("confirmed", "assembling"):
                r = await client.patch(f"/api/v1/orders/{number}", json={"status": code})
                assert r.status_code == 200, r.text
            shipped = {
                "tracking": {"carrier": "russian_post", "number": "RA123456789RU"},
                "status": "handed_to_delivery",
            }
            for _ in range(2):  # the same status twice notifies once
                r = await client.patch(f"/api/v1/orders/{number}", json=shipped)
                assert r.status_code == 200, r.text

        await eventually(lambda: notices(3))  # new, confirmed, shipped

        async def drained() -> bool:
            async with factory() as s:
                pending = (await s.execute(select(Outbox).where(Outbox.done_at.is_(None)))).scalars().all()
            return not pending

        await eventually(drained)
    calls = emulator.requests("sendMessage")
    shipped_calls = [c for c in calls if "передан в доставку" in c.params["text"]]
    assert len(shipped_calls) == 1 and len(await notices(3)) == 3
    bot = [c for c in calls if f"№{number}" not in c.params["text"]]
    assert len(bot) == 1 and bot[0].params["chat_id"] == 501  # the bot's one answer to the customer
    text = shipped_calls[0].params["text"]
    assert TRACK_URL in text and f"№{number}" in text
    markup = shipped_calls[0].params["reply_markup"]
    if isinstance(markup, str):
        markup = json.loads(markup)
    assert markup["inline_keyboard"][0][0] == {"text": "Отследить", "url": TRACK_URL}

    async with factory() as s:
        sent = list(
            (
                await s.execute(
                    select(Message)
                    .where(Message.direction == "out", Message.order_id.is_not(None))
                    .order_by(Message.id)
                )
            ).scalars()
        )
        order = (await s.execute(select(Order).where(Order.number == number))).scalar_one()
    assert [m.delivery for m in sent] == ["sent", "sent", "sent"]
    assert all(m.author == "bot" and m.meta["auto"] and m.order_id == order.id for m in sent)
    assert set(sent[-1].meta["texts"]) == {"messenger", "sms", "email"}  # for a fallback channel


@dataclass
class Receiver:
    """The shop's webhook endpoint: answers with the scripted status codes, then 200."""

    answers: list[int]
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text="oops" if status >= 400 else "ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(answers=[500, 200, 422])
    await r.start()
    try:
        yield r
    finally:
        assert r.runner is not None
        await r.runner.cleanup()


async def test_shop_webhook_is_signed_retried_after_500_and_dropped_on_4xx(
    factory: SessionFactory, settings: Settings, receiver: Receiver
) -> None:
    await make_world(factory, {"KETTLE": (259900, 4)})
    auth = await api_token(factory)
    configured = settings.with_(shop_webhook_url=receiver.url, shop_webhook_secret=WEBHOOK_SECRET)
    with threaded_server(configured) as base:
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            created = await client.post(
                "/api/v1/orders",
                json={"customer": {"phone": "+79161234567"}, "lines": [{"sku": "KETTLE", "qty": 1}]},
            )
            assert created.status_code == 201, created.text
            number = created.json()["number"]

            async def twice() -> bool:
                return len(receiver.got) >= 2

            await eventually(twice)  # 500, then the retry with backoff succeeds
            r = await client.patch(f"/api/v1/orders/{number}", json={"status": "confirmed"})
            assert r.status_code == 200

        async def settled() -> list[Outbox] | None:
            async with factory() as s:
                rows = list(
                    (
                        await s.execute(select(Outbox).where(Outbox.kind == "webhook").order_by(Outbox.id))
                    ).scalars()
                )
            return rows if len(rows) == 2 and all(row.done_at for row in rows) else None

        rows = await eventually(settled)
    assert len(receiver.got) == 3
    (h1, b1), (h2, b2), (h3, b3) = receiver.got
    assert b1 == b2 and h1[DELIVERY_HEADER] == h2[DELIVERY_HEADER]  # the same delivery, retried
    for headers, body in receiver.got:
        assert verify(WEBHOOK_SECRET, body, headers[SIGNATURE_HEADER])
        assert not verify("another-secret-000000", body, headers[SIGNATURE_HEADER])
    assert h1[EVENT_HEADER] == "order.created" and h3[EVENT_HEADER] == "order.status"
    payload = json.loads(b3)
    assert payload["order"]["number"] == number and payload["order"]["status"] == "confirmed"
    created_row, status_row = rows
    assert created_row.attempts == 2 and created_row.last_error is None and created_row.message_id is None
    assert status_row.attempts == 1 and status_row.last_error is not None and "422" in status_row.last_error
