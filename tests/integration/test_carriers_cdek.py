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
from inbox.orders.carriers.service import cdek_client
from inbox.orders.carriers.tracking import path_to
from inbox.orders.payments.errors import ProviderRefused
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
        assert quoted.status_code == 200 and "order-error" not in quoted.text, quoted.text
        async with world.factory() as session:
            priced = await session.get(Order, order.id)
        assert priced is not None and priced.delivery_cost == 40000  # 3 × 500 g: 350 ₽ + 50 ₽
        assert priced.total == priced.subtotal + 40000
        tariff = json.loads(next(r["body"] for r in cdek.requests if r["path"] == "/v2/calculator/tariff"))
        assert tariff["to_location"] == {"address": "Москва, ул. Ленина, 5"} and tariff["tariff_code"] == 136
        handed = client.post(f"/ui/orders/{order.id}/cdek")
        assert handed.status_code == 200 and "order-error" not in handed.text, handed.text

        async def labelled() -> bool:  # registration and the label run as outbox tasks
            async with world.factory() as session:
                row = (await session.execute(select(Shipment))).scalar_one_or_none()
                return row is not None and row.label_path is not None

        await _until(labelled, "the order registered with its label")
        (order_uuid,) = cdek.orders
        number = cdek.orders[order_uuid]["entity"]["cdek_number"]
        created = json.loads(
            next(r["body"] for r in cdek.requests if r["path"] == "/v2/orders" and r["method"] == "POST")
        )
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


async def test_registration_runs_on_the_outbox_retried_and_shown(
    factory: SessionFactory, settings: Settings, tg: TelegramEmulator, cdek: CdekEmulator
) -> None:
    """СДЭК registration and the label are outbox tasks: retried while СДЭК is down, shown in the thread
    when the outbox gives up (the button comes back), never creating the order twice at СДЭК."""
    w = World(
        factory,
        settings.with_(
            telegram_rate_per_chat=1000.0,
            telegram_rate_per_bot=1000.0,
            outbox_backoff_cap=1.0,
            outbox_max_attempts=3,
        ),
    )
    try:
        products = await seed_catalog(w.factory)
        await w.add_telegram(tg)
        await w.telegram(text_update(CHAT, "привет"), tg)
        order = await _order_for(w, "telegram", str(CHAT), products)
        async with transaction(w.factory) as session:
            session.add(
                Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123"))
            )
            session.add(
                CarrierAccount(
                    kind="cdek",
                    name="cdek",
                    settings={"api_base": cdek.base_url, "tariff_code": 136},
                    secrets={"client_id": cdek.client_id, "client_secret": cdek.client_secret},
                    state={},
                )
            )
            row = await session.get(Order, order.id)
            assert row is not None
            row.delivery_address = "Москва, ул. Ленина, 5"

        async def events() -> list[str]:
            async with w.factory() as session:
                rows = (
                    await session.execute(select(Message).where(Message.thread_id == order.thread_id))
                ).scalars()
                return [
                    str(m.meta.get("event")) for m in rows if str(m.meta.get("event", "")).startswith("cdek")
                ]

        with threaded_server_for(w) as base, closing(_signed_in(base)) as client:
            cdek.down = 1000  # СДЭК is down past the outbox's attempts
            handed = client.post(f"/ui/orders/{order.id}/cdek")
            assert handed.status_code == 200 and 'id="cdek-pending"' in handed.text, handed.text
            assert 'id="hand-to-cdek"' not in handed.text
            again = client.post(f"/ui/orders/{order.id}/cdek")  # a second click while it is queued
            assert "order-error" in again.text and "уже регистрируется" in again.text

            async def failed() -> bool:
                return "cdek_failed" in await events()

            await _until(failed, "the failure shown in the thread")
            panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
            assert 'id="hand-to-cdek"' in panel.text and 'id="cdek-pending"' not in panel.text
            thread = client.get(f"/threads/{order.thread_id}").text
            assert "не удалось зарегистрировать в СДЭК" in thread

            # СДЭК had in fact created it before going down (the answer was lost): no second order
            cdek.down = 0
            async with httpx.AsyncClient(base_url=cdek.base_url) as outside:
                token = (
                    await outside.post(
                        "/v2/oauth/token",
                        data={
                            "grant_type": "client_credentials",
                            "client_id": cdek.client_id,
                            "client_secret": cdek.client_secret,
                        },
                    )
                ).json()["access_token"]
                made = await outside.post(
                    "/v2/orders",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "type": 1,
                        "number": str(order.number),
                        "tariff_code": 136,
                        "recipient": {"name": "Анна", "phones": [{"number": "+79990000000"}]},
                        "packages": [{"number": "1", "weight": 500}],
                        "to_location": {"address": "Москва"},
                    },
                )
                assert made.status_code == 202
            cdek.down = 2  # and now down for a moment only: retried
            handed = client.post(f"/ui/orders/{order.id}/cdek")
            assert "order-error" not in handed.text, handed.text

            async def labelled() -> bool:
                async with w.factory() as session:
                    row = (await session.execute(select(Shipment))).scalar_one_or_none()
                    return row is not None and row.label_path is not None

            await _until(labelled, "registered with the label")
            assert len(cdek.orders) == 1  # found by the shop's number, not created again
            async with w.factory() as session:
                shipment = (await session.execute(select(Shipment))).scalar_one()
                fresh = await session.get(Order, order.id)
            assert fresh is not None and fresh.tracking_number == shipment.track
            label = client.get(f"/ui/shipments/{shipment.id}/label.pdf")
            assert label.status_code == 200 and label.content.startswith(b"%PDF")
            assert label.headers["content-type"] == "application/pdf"
            assert client.get(f"/ui/shipments/{shipment.id + 99}/label.pdf").status_code == 404
            panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
            assert f"/ui/shipments/{shipment.id}/label.pdf" in panel.text
        assert await events() == [
            "cdek_registering",
            "cdek_failed",
            "cdek_registering",
            "cdek_registered",
            "cdek_label",
        ]
    finally:
        await w.close()


async def test_manager_chooses_a_pickup_point_in_the_panel(
    world: World, tg: TelegramEmulator, cdek: CdekEmulator
) -> None:
    products = await seed_catalog(world.factory)
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "привет"), tg)
    order = await _order_for(world, "telegram", str(CHAT), products)
    async with transaction(world.factory) as session:
        session.add(Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123")))
        session.add(
            CarrierAccount(
                kind="cdek",
                name="cdek",
                settings={"api_base": cdek.base_url, "tariff_code": 136},
                secrets={"client_id": cdek.client_id, "client_secret": cdek.client_secret},
                state={},
            )
        )
    with threaded_server_for(world) as base, closing(_signed_in(base)) as client:
        panel = client.get(f"/ui/threads/{order.thread_id}/order-panel", params={"order": order.id})
        assert 'id="pickup-search"' in panel.text
        nowhere = client.post(f"/ui/orders/{order.id}/pickup-points", data={"city": "Атлантида"})
        assert nowhere.status_code == 200 and "нет пунктов выдачи" in nowhere.text
        found = client.post(f"/ui/orders/{order.id}/pickup-points", data={"city": "Москва"})
        assert 'id="pickup-choice"' in found.text and 'value="MSK123"' in found.text, found.text
        assert "Невский" not in found.text  # another city's point
        forged = client.post(f"/ui/orders/{order.id}/pickup-point", data={"city_code": "44", "point": "SPB7"})
        assert "order-error" in forged.text and "нет такого пункта" in forged.text
        chosen = client.post(
            f"/ui/orders/{order.id}/pickup-point", data={"city_code": "44", "point": "MSK123"}
        )
        assert chosen.status_code == 200 and "order-error" not in chosen.text, chosen.text
    async with world.factory() as session:
        fresh = await session.get(Order, order.id)
    assert fresh is not None and fresh.delivery_method == "cdek_pvz"
    assert fresh.delivery_address == "[MSK123] Москва, ул. Тверская, 1 (Пн-Пт 10:00-21:00, Сб-Вс 10:00-18:00)"
    assert fresh.delivery_cost == 40000 and fresh.total == fresh.subtotal + 40000  # 1.5 kg: 350 ₽ + 50 ₽


async def test_one_token_serves_every_call_and_a_revoked_one_is_replaced_once(
    factory: SessionFactory, settings: Settings, cdek: CdekEmulator
) -> None:
    async with transaction(factory) as session:
        account = CarrierAccount(
            kind="cdek",
            name="cdek-token",
            settings={"api_base": cdek.base_url},
            secrets={"client_id": cdek.client_id, "client_secret": cdek.client_secret},
            state={},
        )
        session.add(account)
    client = cdek_client(account, settings)
    assert cdek_client(account, settings) is client  # one client per account and credentials
    for number in ("A-1", "A-2", "A-3"):
        assert await cdek_client(account, settings).find_by_im_number(number) is None
    assert cdek.token_requests() == 1

    cdek.revoke_tokens()  # a 401 to a reused token: one fresh token, the call goes through
    assert await client.find_by_im_number("A-4") is None
    assert cdek.token_requests() == 2

    other = CarrierAccount(
        kind="cdek",
        name="cdek-wrong",
        settings={"api_base": cdek.base_url},
        secrets={"client_id": cdek.client_id, "client_secret": "wrong"},
        state={},
    )
    async with transaction(factory) as session:
        session.add(other)
    assert cdek_client(other, settings) is not client
    with pytest.raises(ProviderRefused, match="credentials"):
        await cdek_client(other, settings).find_by_im_number("A-5")
