"""A small world for bot tests: real channel adapters against the emulators, the real ingest path
(handle_webhook → store_raw → InboundProcessor), the real BotEngine and the real Dispatcher."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from inbox.bots import BotEngine
from inbox.channels.hub import ChannelHub
from inbox.core.events import Event, EventBus
from inbox.core.ingest import InboundProcessor, store_raw
from inbox.core.outbox import Dispatcher
from inbox.core.types import WebhookRequest
from inbox.db import SessionFactory, transaction
from inbox.models import Author, BotState, ChannelAccount, Identity, Message, Product, Stock
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code
from inbox.settings import Settings
from tests.emulators import vk as vk_emu
from tests.emulators.sms import SMSEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator

TG_SECRET = "tg-webhook-secret"
VK_GROUP = 77
VK_TOKEN = "vk1.a.community-token"
VK_SECRET = "vk-callback-secret"
SHOP_NUMBER = "+15005550006"


@dataclass
class World:
    factory: SessionFactory
    settings: Settings
    bus: EventBus = field(default_factory=EventBus)
    accounts: dict[str, int] = field(default_factory=dict)
    seen: list[Event] = field(default_factory=list)
    batched: bool = False  # the engine takes each publish's events at once, as `inbox serve` wires it

    def __post_init__(self) -> None:
        self.hub = ChannelHub(self.factory, self.settings)
        self.processor = InboundProcessor(self.factory, self.hub, self.bus, self.settings)
        self.engine = BotEngine(self.factory, self.settings, bus=self.bus, hub=self.hub)
        if self.batched:
            self.bus.subscribe_batch(self.engine.on_events)
        else:
            self.bus.subscribe(self.engine.on_event)
        self.processor.callback_handlers.append(self.engine.on_callback)

        async def record(ev: Event) -> None:
            self.seen.append(ev)

        self.bus.subscribe(record)
        self._vk_cmid = 0

    async def close(self) -> None:
        await self.hub.close()

    async def add_account(
        self, kind: str, name: str, settings: dict[str, Any], secrets: dict[str, Any]
    ) -> int:
        async with transaction(self.factory) as session:
            row = ChannelAccount(
                kind=kind, name=name, settings=settings, secrets=secrets, state={}, enabled=True
            )
            session.add(row)
            await session.flush()
            self.accounts[kind] = row.id
            return row.id

    async def add_telegram(self, emu: TelegramEmulator) -> int:
        return await self.add_account(
            "telegram",
            "tg",
            {"api_base": emu.base_url},
            {"token": DEFAULT_TOKEN, "webhook_secret": TG_SECRET},
        )

    async def add_vk(self, emu: vk_emu.VKEmulator) -> int:
        settings = {"group_id": VK_GROUP, "mode": "callback", "api_base": emu.base_url, "rate": 1000}
        return await self.add_account(
            "vk", "vk", settings, {"token": VK_TOKEN, "secret": VK_SECRET, "confirmation": "c0nf"}
        )

    async def add_sms(self, emu: SMSEmulator) -> int:
        settings = {"provider": "twilio", "from": SHOP_NUMBER, "api_base": emu.base_url}
        return await self.add_account(
            "sms", "sms", settings, {"account_sid": emu.twilio_sid, "auth_token": emu.twilio_token}
        )

    # ---- inbound through the adapters' webhook handlers and the real processor -------------------------

    async def _ingest(self, kind: str, request: WebhookRequest) -> None:
        account_id = self.accounts[kind]
        channel = await self.hub.get(account_id)
        assert channel is not None
        result = channel.handle_webhook(request)
        await store_raw(self.factory, account_id, list(result.events))
        while await self.processor.process_batch():
            pass
        await self.drain()

    async def telegram(self, update: dict[str, Any], emu: TelegramEmulator) -> None:
        update = emu.queue_update(update)  # assigns the update_id; the poller is not running
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {"x-telegram-bot-api-secret-token": TG_SECRET, "content-type": "application/json"}
        url = f"https://shop.example/webhooks/telegram/{self.accounts['telegram']}"
        await self._ingest("telegram", WebhookRequest(headers=headers, body=body, query={}, url=url))

    async def vk_text(self, user_id: int, text: str) -> None:
        self._vk_cmid += 1
        update = vk_emu.message_new(VK_GROUP, vk_emu.message(user_id, text, cmid=self._vk_cmid))
        await self._vk(update)

    async def vk_press(self, user_id: int, payload: Any) -> None:
        await self._vk(vk_emu.message_event(VK_GROUP, user_id=user_id, payload=payload))

    async def _vk(self, update: dict[str, Any]) -> None:
        body = json.dumps({**update, "secret": VK_SECRET}, ensure_ascii=False).encode()
        url = f"https://shop.example/webhooks/vk/{self.accounts['vk']}"
        await self._ingest("vk", WebhookRequest(headers={}, body=body, query={}, url=url))

    async def sms(self, emu: SMSEmulator, sender: str, text: str) -> None:
        url = f"https://shop.example/webhooks/sms/{self.accounts['sms']}"
        headers, body, _ = emu.twilio_inbound_request(url, sender=sender, to=SHOP_NUMBER, body=text)
        request = WebhookRequest(
            headers={k.lower(): v for k, v in headers.items()}, body=body, query={}, url=url
        )
        await self._ingest("sms", request)

    async def drain(self) -> None:
        """Send everything queued. A fresh dispatcher each time: per-chat pacing is not what these tests
        are about, and a restarted dispatcher starts with full token buckets."""
        dispatcher = Dispatcher(self.factory, self.hub, self.bus, self.settings)
        while await dispatcher.dispatch_once():
            pass

    # ---- reading ---------------------------------------------------------------------------------------

    async def bot_messages(self) -> list[Message]:
        async with self.factory() as session:
            rows = await session.execute(
                select(Message).where(Message.author == Author.BOT).order_by(Message.id)
            )
            return list(rows.scalars())

    async def customer_of(self, kind: str, external_id: str) -> int:
        async with self.factory() as session:
            return (
                await session.execute(
                    select(Identity.customer_id).where(
                        Identity.kind == kind, Identity.external_id == external_id
                    )
                )
            ).scalar_one()

    async def state(self, customer_id: int) -> BotState | None:
        async with self.factory() as session:
            return await session.get(BotState, customer_id)

    async def count(self, model: Any) -> int:
        async with self.factory() as session:
            return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def seed_catalog(factory: SessionFactory) -> dict[str, int]:
    """Statuses, the main warehouse, three products (one related to another)."""
    from inbox.models import product_related

    async with transaction(factory) as s:
        await ensure_defaults(s)
        wh = await warehouse_by_code(s, "main")
        ids: dict[str, int] = {}
        for sku, name, price, qty in (
            ("RUN-42", "Кроссовки беговые", 599000, 5),
            ("SOCK-1", "Носки спортивные", 49000, 20),
            ("CAP-1", "Кепка", 120000, 0),
        ):
            p = Product(sku=sku, name=name, price=price, description=f"{name}: хорошие")
            s.add(p)
            await s.flush()
            s.add(Stock(product_id=p.id, warehouse_id=wh.id, on_hand=qty, reserved=0))
            ids[sku] = p.id
        await s.execute(product_related.insert().values(product_id=ids["RUN-42"], related_id=ids["SOCK-1"]))
        return ids
