"""Orders REST API (/api/v1/products, /stock, /orders) over real HTTP (uvicorn), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, Customer, Message, Order, Stock, Thread
from inbox.settings import Settings
from tests.orders_factories import World, make_world
from tests.server import threaded_server

Server = tuple[httpx.Client, World, SessionFactory]


@pytest.fixture
async def world(factory: SessionFactory) -> World:
    return await make_world(factory, {"A-1": (199000, 10), "B-2": (50050, 3)})


@pytest.fixture
async def token(factory: SessionFactory) -> str:
    value = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(value)))
    return value


@pytest.fixture
def api(factory: SessionFactory, settings: Settings, world: World, token: str) -> Iterator[Server]:
    with (
        threaded_server(settings, run_workers=False) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client,
    ):
        yield client, world, factory


async def _stock(factory: SessionFactory, product_id: int, warehouse_id: int) -> tuple[int, int]:
    async with factory() as s:
        row = await s.get(Stock, (product_id, warehouse_id))
        assert row is not None
        return row.on_hand, row.reserved


async def test_products_upsert_list_and_stock_batch(api: Server) -> None:
    client, _world, _factory = api
    put = client.put(
        "/api/v1/products",
        json=[
            {"sku": "C-3", "name": "Чайник", "price": 259900},
            {"sku": "A-1", "price": 189000},
            {"sku": "B-2"},
            {"sku": "D-4", "name": "Без цены"},
            {"sku": "E-5", "name": "Минус", "price": -1},
        ],
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 1, 1)
    assert [(e["index"], e["sku"]) for e in body["errors"]] == [(3, "D-4"), (4, "E-5")]
    assert "name and a price" in body["errors"][0]["reason"]
    assert client.put("/api/v1/products", json=[{"sku": "X", "colour": "red"}]).status_code == 400

    good = [{"sku": "C-3", "on_hand": 5}, {"sku": "A-1", "on_hand": 10}]
    refused = client.put(
        "/api/v1/stock",
        json=[
            *good,
            {"sku": "NOPE", "on_hand": 1},
            {"sku": "B-2", "warehouse": "far", "on_hand": 1},
            {"sku": "B-2", "on_hand": -5},
        ],
    )
    assert refused.status_code == 422, refused.text  # one bad line refuses the batch; nothing applied
    detail = refused.json()["detail"]
    assert "line 4 (sku B-2)" in detail and "non-negative" in detail and "nothing applied" in detail
    reasons = {e["index"]: (e["sku"], e["reason"]) for e in refused.json()["extra"]["errors"]}
    assert set(reasons) == {2, 3, 4} and reasons[4][0] == "B-2"
    assert "unknown sku" in reasons[2][1] and "unknown warehouse" in reasons[3][1]
    c3_before = next(p for p in client.get("/api/v1/products").json()["items"] if p["sku"] == "C-3")
    assert c3_before["available"] == 0
    stock = client.put("/api/v1/stock", json=good)
    assert stock.status_code == 200 and (stock.json()["updated"], stock.json()["unchanged"]) == (1, 1)

    first = client.get("/api/v1/products", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"]
    rest = client.get("/api/v1/products", params={"limit": 2, "cursor": first["next"]}).json()
    skus = [p["sku"] for p in first["items"] + rest["items"]]
    assert sorted(skus) == ["A-1", "B-2", "C-3"] and rest["next"] is None
    c3 = next(p for p in first["items"] + rest["items"] if p["sku"] == "C-3")
    assert c3["available"] == 5 and c3["price"] == 259900
    found = client.get("/api/v1/products", params={"q": "чайн"}).json()["items"]
    assert [p["sku"] for p in found] == ["C-3"]
    assert client.get("/api/v1/products", params={"cursor": "x"}).status_code == 400
    assert client.get("/api/v1/products", headers={"Authorization": "Bearer nope"}).status_code == 401


async def test_create_order_reserves_and_lands_in_the_customers_thread(api: Server) -> None:
    client, world, factory = api
    async with transaction(factory) as s:  # a customer whose phone a messenger vouched for
        known = Customer(name="Ольга", phone="+79161234567", phone_verified=True)
        s.add(known)
        await s.flush()
        thread = Thread(customer_id=known.id)
        s.add(thread)
        await s.flush()
        known_id, known_thread = known.id, thread.id

    created = client.post(
        "/api/v1/orders",
        json={
            "customer": {"name": "Ольга", "phone": "8 (916) 123-45-67"},
            "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
            "delivery": {"method": "courier", "address": "Москва, Тверская 1", "cost": 30000},
            "comment": "Позвонить за час",
        },
    )
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["customer_id"] == known_id and order["thread_id"] == known_thread
    assert order["status"] == "new" and order["number"] and order["source"] == "api"
    assert order["subtotal"] == 2 * 199000 + 50050 and order["total"] == order["subtotal"] + 30000
    assert await _stock(factory, world.products["A-1"], world.warehouse_id) == (10, 2)

    # Out of stock: 409 with the reason, and nothing is reserved (the whole order is refused).
    refused = client.post(
        "/api/v1/orders",
        json={
            "customer": {"phone": "+79161234567"},
            "lines": [{"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 5}],
        },
    )
    assert refused.status_code == 409
    assert "B-2" in refused.json()["detail"] and "available" in refused.json()["detail"]
    assert await _stock(factory, world.products["A-1"], world.warehouse_id) == (10, 2)
    unknown = client.post(
        "/api/v1/orders", json={"customer": {"phone": "+79161234567"}, "lines": [{"sku": "ZZ", "qty": 1}]}
    )
    assert unknown.status_code == 404 and "ZZ" in unknown.json()["detail"]
    bad_phone = client.post(
        "/api/v1/orders", json={"customer": {"phone": "12"}, "lines": [{"sku": "A-1", "qty": 1}]}
    )
    assert bad_phone.status_code == 422 and "phone" in bad_phone.json()["detail"]
    assert bad_phone.json()["extra"] == {"field": "customer.phone"}

    # An unknown email: a new customer with an unverified contact and a thread; the next order joins it.
    new1 = client.post(
        "/api/v1/orders",
        json={"customer": {"name": "Пётр", "email": "Petr@Example.ru"}, "lines": [{"sku": "A-1", "qty": 1}]},
    ).json()
    new2 = client.post(
        "/api/v1/orders", json={"customer": {"email": "petr@example.ru"}, "lines": [{"sku": "A-1", "qty": 1}]}
    ).json()
    assert new1["customer_id"] == new2["customer_id"] != known_id and new1["thread_id"] == new2["thread_id"]
    async with factory() as s:
        petr = await s.get(Customer, new1["customer_id"])
        assert petr is not None and petr.email == "petr@example.ru" and not petr.email_verified
        events = list(
            (
                await s.execute(select(Message).where(Message.thread_id == known_thread).order_by(Message.id))
            ).scalars()
        )
    assert next((m.direction, m.meta.get("kind"), m.meta.get("event")) for m in events) == (
        "event",
        "order",
        "created",
    )

    got = client.get(f"/api/v1/orders/{order['number']}").json()
    assert got["lines"] == [
        {"sku": "A-1", "name": "Товар A-1", "qty": 2, "unit_price": 199000},
        {"sku": "B-2", "name": "Товар B-2", "qty": 1, "unit_price": 50050},
    ]
    assert client.get("/api/v1/orders/999999").status_code == 404
    page = client.get("/api/v1/orders", params={"limit": 2}).json()
    older = client.get("/api/v1/orders", params={"limit": 2, "cursor": page["next"]}).json()
    numbers = [o["number"] for o in page["items"] + older["items"]]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 3


async def test_patch_status_tracking_and_refusals(api: Server) -> None:
    client, world, factory = api
    order = client.post(
        "/api/v1/orders", json={"customer": {"phone": "+79031112233"}, "lines": [{"sku": "B-2", "qty": 2}]}
    ).json()
    number = order["number"]
    forbidden = client.patch(f"/api/v1/orders/{number}", json={"status": "delivered"})
    assert forbidden.status_code == 409 and "not allowed" in forbidden.json()["detail"]
    assert "allowed: Confirmed" in forbidden.json()["detail"]  # names what is allowed (API: English)
    assert client.patch(f"/api/v1/orders/{number}", json={"status": "nope"}).status_code == 409
    for code in ("confirmed", "assembling"):
        r = client.patch(f"/api/v1/orders/{number}", json={"status": code})
        assert r.status_code == 200 and r.json()["status"] == code
    again = client.patch(f"/api/v1/orders/{number}", json={"status": "assembling"})
    assert again.status_code == 200  # setting the current status again is a no-op

    shipped = client.patch(
        f"/api/v1/orders/{number}",
        json={
            "tracking": {"carrier": "russian_post", "number": "RA123456789RU"},
            "status": "handed_to_delivery",
        },
    )
    assert shipped.status_code == 200, shipped.text
    tracking = shipped.json()["tracking"]
    assert tracking == {
        "carrier": "russian_post",
        "number": "RA123456789RU",
        "url": "https://www.pochta.ru/tracking?barcode=RA123456789RU",
        "events": [],  # no Почта России account connected: nothing tracked yet
    }
    bad_carrier = client.patch(
        f"/api/v1/orders/{number}", json={"tracking": {"carrier": "owl", "number": "X123"}}
    )
    assert bad_carrier.status_code == 404
    # ERP sync may not count below what orders reserve
    below = client.put("/api/v1/stock", json=[{"sku": "B-2", "on_hand": 1}])
    assert below.status_code == 422 and "below_reserved" in below.json()["extra"]["errors"][0]["reason"]
    done = client.patch(f"/api/v1/orders/{number}", json={"status": "delivered"}).json()
    assert done["status"] == "delivered"
    assert await _stock(factory, world.products["B-2"], world.warehouse_id) == (1, 0)  # written off

    async with factory() as s:
        row = (await s.execute(select(Order).where(Order.number == number))).scalar_one()
        events = [
            (m.meta.get("event"), m.meta.get("to"))
            for m in (
                await s.execute(
                    select(Message).where(Message.thread_id == row.thread_id).order_by(Message.id)
                )
            ).scalars()
            if m.meta.get("kind") == "order"
        ]
    assert [e for e in events if e[0] != "not_notified"] == [
        ("created", None),
        ("status", "confirmed"),
        ("status", "assembling"),
        ("tracking", None),
        ("status", "handed_to_delivery"),
        ("status", "delivered"),
    ]
    # the customer has no channel to write to: each notifying status says so in the thread
    assert ("not_notified", None) in events


def _order(client: httpx.Client, **changes: object) -> httpx.Response:
    body: dict[str, object] = {"customer": {"phone": "+79161234567"}, "lines": [{"sku": "A-1", "qty": 1}]}
    body.update(changes)
    return client.post("/api/v1/orders", json=body)


async def test_invalid_values_answer_422_naming_the_field_and_conflicts_stay_409(api: Server) -> None:
    client, world, factory = api
    cases: list[tuple[dict[str, object], str]] = [
        ({"lines": [{"sku": "A-1", "qty": 0}]}, "lines[0].qty"),
        ({"lines": [{"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 2_000_000}]}, "lines[1].qty"),
        ({"customer": {"phone": "12"}}, "customer.phone"),
        ({"customer": {"email": "not-an-address"}}, "customer.email"),
        ({"customer": {"name": "Nobody"}}, "customer"),
        ({"delivery": {"method": "courier", "cost": -1}}, "delivery.cost"),
        ({"delivery": {"method": "courier", "cost": 10**20}}, "delivery.cost"),
        ({"delivery": {"method": "x" * 65}}, "delivery.method"),
        ({"comment": "x" * 10_001}, "comment"),
    ]
    for changes, field in cases:
        r = _order(client, **changes)
        assert r.status_code == 422, (changes, r.status_code, r.text)
        assert r.json()["extra"] == {"field": field}, r.text
    # Wrong types are refused by the schema: 400 naming the field.
    r = _order(client, lines=[{"sku": "A-1", "qty": "many"}])
    assert r.status_code == 400 and "qty" in r.text, r.text
    # A stock shortfall is a conflict with the current state: still 409.
    assert _order(client, lines=[{"sku": "B-2", "qty": 4}]).status_code == 409
    assert await _stock(factory, world.products["B-2"], world.warehouse_id) == (3, 0)
