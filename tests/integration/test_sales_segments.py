"""Segment conditions compiled to SQL on SQLite and PostgreSQL, against membership computed by hand for the
shop in tests/sales_world.py (see segment_shop's docstring); the API and the editor over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import Customer, Segment
from inbox.sales import SalesError, segments
from inbox.sales.config import SalesConfig
from inbox.settings import Settings
from tests.sales_world import Shop, api_client, api_token, segment_shop, signed_in
from tests.server import threaded_server

EVERYBODY = {"Анна", "Борис", "Вера", "Глеб", "Дина"}
CASES: list[tuple[list[dict[str, Any]], set[str]]] = [
    ([], EVERYBODY),
    ([{"field": "channel", "op": "is", "value": "telegram"}], {"Анна", "Дина"}),
    ([{"field": "channel", "op": "is_not", "value": "email"}], {"Анна", "Борис", "Глеб"}),
    ([{"field": "city", "op": "is", "value": "Москва"}], {"Анна", "Вера"}),
    ([{"field": "orders", "op": "gte", "value": 2}], {"Анна", "Вера"}),
    ([{"field": "orders", "op": "eq", "value": "0"}], {"Дина"}),
    ([{"field": "total_spent", "op": "gte", "value": 10000}], {"Борис", "Глеб"}),
    ([{"field": "total_spent", "op": "lte", "value": "6 000"}], {"Анна", "Вера", "Дина"}),
    ([{"field": "avg_check", "op": "gte", "value": 2000}], {"Анна", "Борис", "Глеб"}),
    ([{"field": "avg_check", "op": "lte", "value": 1000}], {"Вера"}),
    # Борис's cancelled order 3 days ago counts for the last order date (as on the card), not for money
    ([{"field": "last_order", "op": "within_days", "value": 7}], {"Анна", "Борис", "Вера"}),
    ([{"field": "last_order", "op": "before_days", "value": 30}], {"Глеб"}),
    ([{"field": "last_order", "op": "never"}], {"Дина"}),
    ([{"field": "product", "op": "bought", "value": "CUP"}], {"Анна"}),
    ([{"field": "product", "op": "not_bought", "value": "CUP"}], {"Борис", "Вера", "Глеб", "Дина"}),
    ([{"field": "rfm", "op": "is", "value": "loyal"}], {"Анна", "Вера"}),
    ([{"field": "rfm", "op": "is", "value": "new"}], {"Борис"}),
    ([{"field": "rfm", "op": "is", "value": "lost"}], {"Глеб"}),
    ([{"field": "rfm", "op": "is", "value": "none"}], {"Дина"}),
    ([{"field": "rfm", "op": "is", "value": "champions"}], set()),
    (
        [{"field": "city", "op": "is", "value": "Москва"}, {"field": "orders", "op": "gte", "value": 3}],
        {"Вера"},
    ),
]


async def members(
    factory: SessionFactory, shop: Shop, conditions: list[dict[str, Any]], cfg: SalesConfig
) -> set[str]:
    names = {v: k for k, v in shop.customers.items()}
    async with factory() as session:
        query = segments.dynamic_query(segments.parse_conditions(conditions), cfg)
        return {names[i] for i in (await session.execute(query)).scalars()}


async def test_conditions_match_hand_computed_membership(factory: SessionFactory) -> None:
    shop = await segment_shop(factory)
    async with transaction(factory) as s:  # a tombstone of a merge is never a member
        s.add(Customer(name="Ева", merged_into_id=shop.customers["Анна"]))
    cfg = SalesConfig()
    for conditions, expected in CASES:
        assert await members(factory, shop, conditions, cfg) == expected, conditions
    label = [{"field": "label", "op": "has", "value": shop.labels["VIP"]}]
    assert await members(factory, shop, label, cfg) == {"Анна"}
    # RFM thresholds are settings: with monetary "3" from 5000 ₽ Анна (R3 F2 M3) stays loyal, and with
    # frequency "3" from 2 orders she becomes a champion
    champion = SalesConfig(rfm_frequency=(2, 1), rfm_monetary=(5000_00, 1000_00))
    rfm = [{"field": "rfm", "op": "is", "value": "champions"}]
    assert await members(factory, shop, rfm, champion) == {"Анна", "Вера"}


@pytest.mark.parametrize(
    "bad",
    [
        [{"field": "colour", "op": "is", "value": "red"}],
        [{"field": "orders", "op": "is", "value": 1}],
        [{"field": "orders", "op": "gte", "value": "много"}],
        [{"field": "orders", "op": "gte", "value": -1}],
        [{"field": "channel", "op": "is", "value": "fax"}],
        [{"field": "rfm", "op": "is", "value": "vip"}],
        ["orders > 1"],
    ],
)
def test_bad_conditions_are_refused(bad: list[Any]) -> None:
    with pytest.raises(SalesError):
        segments.parse_conditions(bad)


async def test_static_segments_from_csv_and_search(factory: SessionFactory) -> None:
    shop = await segment_shop(factory)
    csv_text = "\ufeffphone,email\n+7 999 000-00-04,\n,VERA@example.ru\n,nobody@example.ru\n\n"
    async with transaction(factory) as s:
        ids, missing = await segments.customers_from_csv(s, csv_text)
        assert ids == sorted([shop.customers["Глеб"], shop.customers["Вера"]]) and missing == 1
        segment = await segments.create_segment(s, "Из файла", kind="static", customer_ids=ids + ids)
        found = await segments.customers_from_search(s, "dina@example.ru")
        assert found == [shop.customers["Дина"]]
        with pytest.raises(SalesError):
            await segments.create_segment(s, " Из   файла ", kind="static")
    async with factory() as s:
        seg = await s.get(Segment, segment.id)
        assert seg is not None
        q = segments.members_query(seg, SalesConfig())
        assert await segments.count(s, q) == 2


async def test_segments_api_and_editor(factory: SessionFactory, settings: Settings) -> None:
    shop = await segment_shop(factory)
    await seed(factory)
    headers = await api_token(factory)
    with threaded_server(settings, run_workers=False) as base:
        api = api_client(base, headers)
        r = api.post(
            "/api/v1/segments",
            json={"name": "Москва", "conditions": [{"field": "city", "op": "is", "value": "Москва"}]},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["count"] == 2 and body["kind"] == "dynamic"
        bad = {"name": "Плохой", "conditions": [{"field": "x", "op": "is"}]}
        r = api.post("/api/v1/segments", json=bad)
        assert r.status_code == 400 and r.json()["detail"] == "Condition 1: unknown field 'x'."
        r = api.post("/api/v1/segments", json=bad, headers={"Accept-Language": "ru"})
        assert r.status_code == 400 and "неизвестное поле" in r.json()["detail"]
        r = api.post(
            "/api/v1/segments",
            json={"name": "Все", "kind": "static", "customer_ids": list(shop.customers.values())},
        )
        assert r.status_code == 201 and r.json()["count"] == 5
        listed = api.get("/api/v1/segments").json()
        assert [(i["name"], i["count"]) for i in listed["items"]] == [("Все", 5), ("Москва", 2)]
        seg_all = listed["items"][0]["id"]
        page = api.get(f"/api/v1/segments/{seg_all}/customers", params={"limit": 3}).json()
        assert len(page["items"]) == 3 and page["next"]
        rest = api.get(f"/api/v1/segments/{seg_all}/customers", params={"cursor": page["next"]}).json()
        assert {i["name"] for i in page["items"] + rest["items"]} == EVERYBODY and rest["next"] is None
        assert api.get("/api/v1/segments/999/customers").status_code == 404
        assert api.get(f"/api/v1/segments/{seg_all}/customers", params={"cursor": "!!"}).status_code == 400

        web = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
        preview = web.post(
            "/segments/preview",
            data={"field": ["orders", "channel"], "op": ["gte", "is"], "value": ["2", "telegram"]},
            headers={"hx-request": "true"},
        )
        assert preview.status_code == 200 and "<b>1</b>" in preview.text  # Анна
        bad = web.post("/segments/preview", data={"field": "orders", "op": "gte", "value": "много"})
        assert "нужно число" in bad.text
        saved = web.post(
            "/segments",
            data={"name": "Постоянные", "kind": "dynamic", "field": "orders", "op": "gte", "value": "2"},
        )
        assert saved.status_code in (302, 303), saved.text
        page_html = web.get(saved.headers["location"]).text
        assert "Анна" in page_html and "Вера" in page_html and "Борис" not in page_html
        seg_id = saved.headers["location"].rsplit("/", 1)[1]
        inbox = web.get(f"/?f_segment={seg_id}").text
        assert "Анна" in inbox and "Глеб" not in inbox
        assert "Постоянные" in web.get("/segments").text
