"""Handing an order to СДЭК from the order panel and following the parcel, over real HTTP with the outbox,
the СДЭК and Telegram emulators, on both databases: number + label, ORDER_STATUS webhooks checked against
the API, the status moved through the matrix, the customer told once per step, tracking.events in the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.core.security import hash_password, new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, CarrierAccount, Manager, Message, Order, Shipment
from inbox.orders.carriers.tracking import path_to
from inbox.orders.statuses import load_statuses
from inbox.settings import Settings
from tests.emulators.cdek import CdekEmulator
from tests.emulators.telegram import TelegramEmulator, text_update
from tests.integration.bots_world import World, seed_catalog
from tests.integration.test_payments_links import _order_for, _signed_in

CHAT = 6161


@pytest.fixture
def cdek() -> Iterator[CdekEmulator]:
    with CdekEmulator() as e:
        yield e


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings) -> AsyncIterator[World]:
    w = World(
        factory,
        settings.with_(telegram_rate_per_chat=1000.0, telegram_rate_per_bot=1000.0, outbox_backoff_cap=1.0),
    )
    yield w
    await w.close()


def _texts(tg: TelegramEmulator) -> list[str]:
    return [str(r.params.get("text")) for r in tg.requests("sendMessage")]


async def _until(check: Any, what: str) -> Any:
    for _ in range(300):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen")


async def test_hand_over_to_cdek_and_follow_the_parcel(
    world: World, tg: TelegramEmulator, cdek: CdekEmulator
) -> None:
    products = await seed_catalog(world.factory)
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "привет"), tg)
    order = await _order_for(world, "telegram", str(CHAT), products)
    token = new_api_token()
    async with transaction(world.factory) as session:
        session.add(Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123")))
        session.add(ApiToken(name="erp", token_sha256=token_digest(token)))
        account = CarrierAccount(
            kind="cdek",
            name="cdek",
            settings={"api_base": cdek.base_url, "tariff_code": 136},
            secrets={"client_id": cdek.client_id, "client_secret": cdek.client_secret},
            state={},
        )
        session.add(account)
        await session.flush()
        account_id = account.id
        row = await session.get(Order, order.id)
        assert row is not None
        row.delivery_address = "Москва, ул. Ленина, 5"
    with threaded_server_for(world) as base, closing(_signed_in(base)) as client:
        hook = f"{base}/webhooks/cdek/{account_id}"
        panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
        assert 'id="hand-to-cdek"' in panel.text
        quoted = client.post(f"/ui/orders/{order.id}/delivery-quote")
        assert quoted.status_code == 200 and 'class="error"' not in quoted.text, quoted.text
        async with world.factory() as session:
            priced = await session.get(Order, order.id)
        assert priced is not None and priced.delivery_cost == 40000  # 3 × 500 g: 350 ₽ + 50 ₽
        assert priced.total == priced.subtotal + 40000
        tariff = json.loads(next(r["body"] for r in cdek.requests if r["path"] == "/v2/calculator/tariff"))
        assert tariff["to_location"] == {"address": "Москва, ул. Ленина, 5"} and tariff["tariff_code"] == 136
        handed = client.post(f"/ui/orders/{order.id}/cdek")
        assert handed.status_code == 200 and 'class="error"' not in handed.text, handed.text
        (order_uuid,) = cdek.orders
        number = cdek.orders[order_uuid]["entity"]["cdek_number"]
        created = json.loads(next(r["body"] for r in cdek.requests if r["path"] == "/v2/orders"))
        assert (
            created["number"] == str(order.number)
            and created["to_location"]["address"] == "Москва, ул. Ленина, 5"
        )
        async with world.factory() as session:
            shipment = (await session.execute(select(Shipment))).scalar_one()
            fresh = await session.get(Order, order.id)
        assert shipment.track == number and shipment.external_id == order_uuid
        assert shipment.label_path and (
            world.settings.data_dir / shipment.label_path
        ).read_bytes().startswith(b"%PDF")
        assert fresh is not None and fresh.tracking_number == number and fresh.carrier == "cdek"

        async def status_is(code: str) -> Any:
            async def check() -> Order | None:
                async with world.factory() as session:
                    current = await session.get(Order, order.id)
                    return current if current is not None and current.status == code else None

            return await _until(check, f"status {code}")

        async def told(part: str, count: int = 1) -> None:
            async def check() -> bool:
                return sum(part in t for t in _texts(tg)) >= count

            await _until(check, f"the customer told {part!r}")

        cdek.add_status(order_uuid, "ACCEPTED")
        assert cdek.webhook(hook, order_uuid) == 200
        await status_is(
            "handed_to_delivery"
        )  # new → confirmed → assembling → handed_to_delivery, by the matrix
        await told("передан перевозчику")
        cdek.add_status(order_uuid, "SENT_TO_TRANSIT_CITY", city="Тверь")
        cdek.down = 2  # СДЭК is down for a moment: the check is retried, nothing is lost
        assert cdek.webhook(hook, order_uuid) == 200
        await status_is("in_delivery")
        cdek.add_status(order_uuid, "ACCEPTED_AT_PICK_UP_POINT")
        for _ in range(2):  # redelivered
            assert cdek.webhook(hook, order_uuid) == 200
        await told("пункт выдачи")
        cdek.add_status(order_uuid, "DELIVERED")
        assert cdek.webhook(hook, order_uuid) == 200
        await status_is("delivered")
        await told("доставлен")
        assert cdek.webhook(hook, order_uuid) == 200  # once more, late
        bad = dict(cdek.webhook_body(order_uuid), uuid="not-a-uuid")
        async with httpx.AsyncClient(timeout=30) as outside:
            assert (await outside.post(hook, json=bad)).status_code == 400
            assert (await outside.post(hook, content=b"<xml/>")).status_code == 400
        assert cdek.webhook(f"{base}/webhooks/cdek/{account_id + 50}", order_uuid) == 404

        async def drained() -> bool:
            async with world.factory() as session:
                from inbox.models import Outbox

                left = (await session.execute(select(Outbox.id).where(Outbox.done_at.is_(None)))).first()
                return left is None

        await _until(drained, "the outbox drained")
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
            body = (await api.get(f"/api/v1/orders/{order.number}")).json()
        assert body["status"] == "delivered"
        assert [e["code"] for e in body["tracking"]["events"]] == [
            "CREATED",
            "ACCEPTED",
            "SENT_TO_TRANSIT_CITY",
            "ACCEPTED_AT_PICK_UP_POINT",
            "DELIVERED",
        ]
    texts = _texts(tg)
    pickup = [t for t in texts if "пункт выдачи" in t]
    assert len(pickup) == 1 and "Москва, ул. Тверская, 1" in pickup[0] and "10:00-21:00" in pickup[0]
    assert sum("передан перевозчику" in t for t in texts) == 1
    assert sum("доставлен" in t for t in texts) == 1
    async with world.factory() as session:
        events = [
            m.meta.get("code")
            for m in (
                await session.execute(select(Message).where(Message.thread_id == order.thread_id))
            ).scalars()
            if m.meta.get("event") == "parcel"
        ]
    assert events == ["CREATED", "ACCEPTED", "SENT_TO_TRANSIT_CITY", "ACCEPTED_AT_PICK_UP_POINT", "DELIVERED"]


async def test_moves_follow_the_matrix(factory: SessionFactory) -> None:
    from inbox.orders.statuses import ensure_defaults

    async with transaction(factory) as session:
        await ensure_defaults(session)
        statuses = await load_statuses(session)
    assert path_to(statuses, "new", "handed_to_delivery") == ["confirmed", "assembling", "handed_to_delivery"]
    assert path_to(statuses, "in_delivery", "ready_for_pickup") is None  # flagged for a manager instead
    assert path_to(statuses, "delivered", "in_delivery") is None
    assert path_to(statuses, "new", "new") == []


def threaded_server_for(world: World) -> Any:
    from tests.server import threaded_server

    return threaded_server(world.settings, run_workers=True)
