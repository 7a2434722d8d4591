"""YooKassa payment links and notifications over real HTTP (uvicorn + the outbox dispatcher) against the local
YooKassa emulator, on SQLite and PostgreSQL: idempotent links, notifications checked against the API,
redelivered and out-of-order notifications, refunds, a provider that is down or answers garbage."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, Message, Order, Outbox, PaymentAccount
from inbox.settings import Settings
from tests.emulators.yookassa import YooKassaEmulator
from tests.orders_factories import World, make_world
from tests.server import threaded_server


class Shop:
    def __init__(
        self, client: httpx.Client, base: str, emu: YooKassaEmulator, account_id: int, factory: SessionFactory
    ):
        self.client = client
        self.base = base
        self.emu = emu
        self.account_id = account_id
        self.factory = factory

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """A POST from outside (YooKassa, or someone forging a notification): no API token."""
        return httpx.post(url, timeout=30, **kwargs)

    @property
    def hook(self) -> str:
        return f"{self.base}/webhooks/yookassa/{self.account_id}"

    def order(self, number: int) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/orders/{number}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def wait(self, number: int, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = self.order(number)
            if check(body):
                return body
            time.sleep(0.1)
        raise AssertionError(f"order {number}: {what} did not happen; last seen {json.dumps(body)}")

    def create_order(self, email: str | None = "anna@example.ru") -> dict[str, Any]:
        customer: dict[str, Any] = {"name": "Анна", "phone": "+79991234567"}
        if email:
            customer["email"] = email
        answer = self.client.post(
            "/api/v1/orders",
            json={
                "customer": customer,
                "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
                "delivery": {"method": "СДЭК до ПВЗ", "cost": 30000},
            },
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def emu() -> Iterator[YooKassaEmulator]:
    with YooKassaEmulator() as e:
        yield e


async def _setup(factory: SessionFactory, emu: YooKassaEmulator) -> tuple[World, str, int]:
    world = await make_world(factory, {"A-1": (199000, 10), "B-2": (50050, 3)})
    token = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(token)))
        account = PaymentAccount(
            kind="yookassa",
            name="main",
            settings={
                "shop_id": emu.shop_id,
                "api_base": emu.base_url,
                "return_url": "https://shop.example/",
            },
            secrets={"secret_key": emu.secret_key},
        )
        session.add(account)
        await session.flush()
        return world, token, account.id


@pytest.fixture
async def prepared(factory: SessionFactory, emu: YooKassaEmulator) -> tuple[World, str, int]:
    return await _setup(factory, emu)


def _shop(
    settings: Settings, prepared: tuple[World, str, int], emu: YooKassaEmulator, factory: SessionFactory
) -> Iterator[Shop]:
    _world, token, account_id = prepared
    with (
        threaded_server(settings, run_workers=True) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
    ):
        yield Shop(client, base, emu, account_id, factory)


@pytest.fixture
def shop(
    settings: Settings, prepared: tuple[World, str, int], emu: YooKassaEmulator, factory: SessionFactory
) -> Iterator[Shop]:
    yield from _shop(dataclasses.replace(settings, outbox_backoff_cap=1.0), prepared, emu, factory)


@pytest.fixture
def impatient_shop(
    settings: Settings, prepared: tuple[World, str, int], emu: YooKassaEmulator, factory: SessionFactory
) -> Iterator[Shop]:
    yield from _shop(
        dataclasses.replace(settings, outbox_backoff_cap=1.0, outbox_max_attempts=2), prepared, emu, factory
    )


async def _events(factory: SessionFactory, thread_id: int, event: str) -> list[Message]:
    async with factory() as session:
        rows = (await session.execute(select(Message).where(Message.thread_id == thread_id))).scalars()
        return [m for m in rows if m.meta.get("kind") == "order" and m.meta.get("event") == event]


async def test_link_receipt_notifications_and_refund(shop: Shop) -> None:
    vat = shop.client.put(
        "/api/v1/products", json=[{"sku": "A-1", "vat_code": 4}, {"sku": "B-2", "vat_code": 13}]
    )
    assert vat.json()["updated"] == 1 and "vat_code" in vat.json()["errors"][0]["reason"]
    order = shop.create_order()
    number, total = order["number"], order["total"]
    assert total == 2 * 199000 + 50050 + 30000
    assert order["status"] == "new" and order["payment"]["history"] == []

    link = shop.client.post(f"/api/v1/orders/{number}/payment-link")
    assert link.status_code == 200, link.text
    assert link.json()["provider"] == "yookassa"
    url = link.json()["url"]
    assert url.startswith(shop.emu.base_url + "/pay/")
    again = shop.client.post(f"/api/v1/orders/{number}/payment-link").json()
    assert again["url"] == url  # the same payment, not a second one
    assert len(shop.emu.payments) == 1
    pid = next(iter(shop.emu.payments))

    create = [r for r in shop.emu.requests if r["method"] == "POST"]
    assert len(create) == 1 and create[0]["key"]
    body = json.loads(create[0]["body"])
    assert body["amount"] == {"value": f"{total // 100}.{total % 100:02d}", "currency": "RUB"}
    assert body["confirmation"] == {"type": "redirect", "return_url": "https://shop.example/"}
    assert body["metadata"]["order_number"] == str(number)
    receipt = body["receipt"]
    assert receipt["customer"] == {"email": "anna@example.ru"}
    items = receipt["items"]
    assert sum(Decimal(i["amount"]["value"]) * Decimal(i["quantity"]) for i in items) * 100 == total
    vats = {i["description"]: i["vat_code"] for i in items}
    assert vats == {"Товар A-1": 4, "Товар B-2": 1, "СДЭК до ПВЗ": 1}  # "без НДС" unless the catalog says
    assert [i["payment_subject"] for i in items][-1] == "service"

    pending = shop.order(number)["payment"]
    assert pending["state"] == "unpaid"
    assert [(h["type"], h["status"], h["provider_id"]) for h in pending["history"]] == [
        ("payment", "pending", pid)
    ]

    # A notification before the payment succeeded says nothing true: the API is asked, the payment waits.
    assert shop.emu.notify(shop.hook, "payment.succeeded", pid) == 200
    shop.emu.succeed(pid)
    for _ in range(3):  # redelivered
        assert shop.emu.notify(shop.hook, "payment.succeeded", pid) == 200
    paid = shop.wait(number, lambda o: o["payment"]["state"] == "paid", "payment")
    assert paid["payment"]["amount"] == total  # counted once
    assert paid["status"] == "confirmed"  # the "new" status's on_paid rule
    # An out-of-order "canceled" notification for the same payment: the API says succeeded; nothing changes.
    forged = {
        "type": "notification",
        "event": "payment.canceled",
        "object": {"id": pid, "status": "canceled"},
    }
    assert shop.post(shop.hook, json=forged).status_code == 200
    shop.emu.refund(pid, "100.00")
    refund_id = next(iter(shop.emu.refunds))
    for _ in range(2):
        assert shop.emu.notify(shop.hook, "refund.succeeded", refund_id) == 200
    refunded = shop.wait(
        number, lambda o: any(h["type"] == "refund" for h in o["payment"]["history"]), "refund"
    )
    await _drained(shop.factory)
    final = shop.order(number)
    assert final["payment"]["state"] == "paid" and final["payment"]["amount"] == total
    history = final["payment"]["history"]
    payments = [h for h in history if h["type"] == "payment"]
    refunds = [h for h in history if h["type"] == "refund"]
    assert len(payments) == 1 and payments[0]["status"] == "succeeded"
    assert payments[0]["refunded"] == 10000 and "bank_card" in payments[0]["method"]
    assert [(r["provider_id"], r["amount"], r["status"]) for r in refunds] == [
        (refund_id, 10000, "succeeded")
    ]
    assert refunded["status"] == "confirmed"
    async with shop.factory() as session:
        row = (await session.execute(select(Order).where(Order.number == number))).scalar_one()
        thread_id = row.thread_id
    assert thread_id is not None
    assert len(await _events(shop.factory, thread_id, "payment")) == 1
    assert len(await _events(shop.factory, thread_id, "refund")) == 1
    # Every GET the checks made went to the API: none of them trusted the notification's body.
    assert sum(1 for r in shop.emu.requests if r["method"] == "GET") >= 7


async def _drained(factory: SessionFactory) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with factory() as session:
            left = (
                await session.execute(
                    select(Outbox.id).where(Outbox.done_at.is_(None), Outbox.kind == "pay.check")
                )
            ).first()
        if left is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("payment checks still queued")


async def test_provider_down_or_garbage_never_doubles_a_payment(shop: Shop) -> None:
    order = shop.create_order(email=None)
    number = order["number"]
    shop.emu.fail_next(1, garbage=True)
    first = shop.client.post(f"/api/v1/orders/{number}/payment-link")
    assert first.status_code == 503 and "non-JSON" in first.json()["detail"]
    shop.emu.fail_next(1, status=500)
    second = shop.client.post(f"/api/v1/orders/{number}/payment-link")
    assert second.status_code == 503
    third = shop.client.post(f"/api/v1/orders/{number}/payment-link")
    assert third.status_code == 200, third.text
    keys = {r["key"] for r in shop.emu.requests if r["method"] == "POST"}
    assert len(keys) == 1  # one idempotence key for all three tries
    assert len(shop.emu.payments) == 1
    body = json.loads(next(r["body"] for r in shop.emu.requests if r["method"] == "POST"))
    assert body["receipt"]["customer"] == {"phone": "79991234567"}

    # The API is down when the notification arrives: it is still accepted, and applied once the API is back.
    pid = next(iter(shop.emu.payments))
    shop.emu.succeed(pid)
    shop.emu.fail_next(2, garbage=True)
    assert shop.emu.notify(shop.hook, "payment.succeeded", pid) == 200
    paid = shop.wait(number, lambda o: o["payment"]["state"] == "paid", "payment after the API came back")
    assert paid["payment"]["amount"] == order["total"]
    assert shop.client.post(f"/api/v1/orders/{number}/payment-link").status_code == 409  # nothing due


async def test_gave_up_checks_are_shown_in_the_thread(impatient_shop: Shop) -> None:
    shop = impatient_shop
    order = shop.create_order()
    number = order["number"]
    assert shop.client.post(f"/api/v1/orders/{number}/payment-link").status_code == 200
    pid = next(iter(shop.emu.payments))
    shop.emu.succeed(pid)
    shop.emu.fail_next(2, status=500)  # both attempts of the impatient outbox
    assert shop.emu.notify(shop.hook, "payment.succeeded", pid) == 200
    await _drained(shop.factory)
    thread_id = order["thread_id"]
    failed = await _events(shop.factory, thread_id, "payment_check_failed")
    assert len(failed) == 1 and "gave up" in failed[0].meta["reason"]
    assert shop.order(number)["payment"]["state"] == "unpaid"
    # The redelivery YooKassa makes later goes through.
    assert shop.emu.notify(shop.hook, "payment.succeeded", pid) == 200
    shop.wait(number, lambda o: o["payment"]["state"] == "paid", "payment on redelivery")


async def test_bad_notifications_are_clear_4xx(shop: Shop) -> None:
    assert shop.post(shop.hook, content=b"not json").status_code == 400
    assert (
        shop.post(
            shop.hook, json={"type": "notification", "event": "payment.exploded", "object": {"id": "x"}}
        ).status_code
        == 400
    )
    assert (
        shop.post(
            shop.hook, json={"type": "notification", "event": "payment.succeeded", "object": {"id": "../x"}}
        ).status_code
        == 400
    )
    assert shop.post(shop.hook, json=[1, 2]).status_code == 400
    other = f"{shop.base}/webhooks/yookassa/{shop.account_id + 99}"
    good = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": "2d9f5e5a-000f-5000-8000-1b7b6d0d4b6e"},
    }
    assert shop.post(other, json=good).status_code == 404
    # An id YooKassa does not know (a forged notification): accepted, checked, changes nothing.
    assert shop.post(shop.hook, json=good).status_code == 200
    await _drained(shop.factory)
    assert shop.client.post("/api/v1/orders/999999/payment-link").status_code == 404
