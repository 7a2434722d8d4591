"""The repeat-sales API and pages over real HTTP on SQLite and PostgreSQL: broadcasts created, planned and
queued by the worker with statistics; the unsubscribe link (page and one-click POST); carts from the shop's
site; the admin pages of rules and settings; carts and broadcasts pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from inbox.core.events import EventBus
from inbox.customer_card.consent import current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import ChannelAccount, Customer, Message, utcnow
from inbox.sales import carts
from inbox.sales.config import load as load_config
from inbox.sales.config import save as save_config
from inbox.sales.runner import SalesRunner
from inbox.settings import Settings
from tests.sales_world import (
    add_customer,
    add_order,
    api_client,
    api_token,
    base_shop,
    signed_in,
)
from tests.server import threaded_server


async def test_broadcast_api_unsubscribe_link_and_carts(factory: SessionFactory, settings: Settings) -> None:
    async with transaction(factory) as s:
        shop = await base_shop(s)
        anna = await add_customer(s, shop, "Анна", ("email",), email="anna@example.ru")
        boris = await add_customer(s, shop, "Борис", ("email",), email="boris@example.ru")
        for cid in (anna, boris):
            await record_consent(s, cid, "email", True, "import", at=utcnow() - timedelta(days=1))
    await seed(factory)
    headers = await api_token(factory)
    with threaded_server(settings, run_workers=False) as base:
        api = api_client(base, headers)
        seg = api.post(
            "/api/v1/segments",
            json={"name": "Почта", "conditions": [{"field": "channel", "op": "is", "value": "email"}]},
        )
        assert seg.status_code == 201 and seg.json()["count"] == 2
        seg_id = seg.json()["id"]
        r = api.post(
            "/api/v1/broadcasts",
            json={
                "segment_id": seg_id,
                "text": "Распродажа!",
                "buttons": [{"text": "Открыть", "url": "https://shop.example/sale"}],
            },
        )
        assert r.status_code == 201, r.text
        b = r.json()
        assert b["status"] == "scheduled" and b["statistics"]["recipients"] == 0
        later = api.post(
            "/api/v1/broadcasts",
            json={"segment_id": seg_id, "text": "Потом", "send_at": "2099-01-01T10:00:00+03:00"},
        )
        assert later.status_code == 201
        for bad in (
            {"segment_id": 999, "text": "x"},
            {"segment_id": seg_id, "text": ""},
            {"segment_id": seg_id, "text": "x", "buttons": [{"text": "x", "url": "ftp://x"}]},
            {"segment_id": seg_id, "text": "x", "send_at": "2099-01-01T10:00:00"},
            {"segment": seg_id, "text": "x"},
        ):
            resp = api.post("/api/v1/broadcasts", json=bad)
            assert resp.status_code in (400, 404), (bad, resp.status_code, resp.text)
        assert api.get("/api/v1/broadcasts/999").status_code == 404

        async with transaction(factory) as s:  # the mailbox exists, but no adapter runs in this test
            for account in (await s.execute(select(ChannelAccount))).scalars():
                account.enabled = True
            # no quiet hours: this test runs at any time of day (test_sales_broadcasts covers them)
            await save_config(s, replace(await load_config(s), quiet_start=0, quiet_end=0))
        runner = SalesRunner(factory, EventBus(), settings)
        done = await runner.tick()
        assert done["planned"] == 2 and done["queued"] == 2
        again = await runner.tick()
        assert again["planned"] == 0 and again["queued"] == 0
        st = api.get(f"/api/v1/broadcasts/{b['id']}").json()
        assert st["status"] == "done"
        assert st["statistics"]["recipients"] == 2 and st["statistics"]["queued"] == 2
        assert st["statistics"]["delivery"] == {"queued": 2}
        assert api.get(f"/api/v1/broadcasts/{later.json()['id']}").json()["status"] == "scheduled"

        # Анна orders within the window; Борис unsubscribes with the link of his letter
        async with transaction(factory) as s:
            await add_order(s, shop, anna, 4200_00, utcnow())
            letter = (await s.execute(select(Message).where(Message.customer_id == boris))).scalar_one()
        url = letter.meta["list_unsubscribe"]
        path = url[url.index("/u/") :]
        page = api.get(path)
        assert page.status_code == 200 and "Отписаться от рассылок?" in page.text
        assert api.get(path[:-2] + "xx").status_code == 404
        one_click = api.post(path, data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200 and "Вы отписаны" in one_click.text
        async with factory() as s:
            assert (await current_consent(s, boris))["email"].marketing is False
        st = api.get(f"/api/v1/broadcasts/{b['id']}").json()["statistics"]
        assert st["orders"] == 1 and st["revenue"] == 4200_00 and st["unsubscribed"] == 1

        # carts from the shop's site: by email, by a signed id, refused when the signature is wrong
        line = {"sku": "TEA", "name": "Чай", "qty": 2, "price": 500_00}
        c = api.post(
            "/api/v1/carts",
            json={
                "email": "ANNA@example.ru",
                "external_id": "s-1",
                "lines": [line],
                "url": "https://shop.example/cart/s-1",
            },
        )
        assert c.status_code == 201, c.text
        assert c.json()["customer_id"] == anna and c.json()["total"] == 1000_00
        again_cart = api.post(
            "/api/v1/carts", json={"email": "anna@example.ru", "external_id": "s-1", "lines": [line, line]}
        )
        assert again_cart.json()["id"] == c.json()["id"] and again_cart.json()["total"] == 2000_00
        new_customer = api.post("/api/v1/carts", json={"phone": "8 (999) 111-22-33", "lines": [line]})
        assert new_customer.status_code == 201
        async with factory() as s:
            created = await s.get(Customer, new_customer.json()["customer_id"])
            assert created is not None and created.phone == "+79991112233"
        signed = carts.sign_customer_id("shop-secret", boris)
        assert (
            api.post("/api/v1/carts", json={"customer_id": signed, "lines": [line]}).status_code == 400
        )  # no secret set
        put = api.put(
            f"/api/v1/carts/{c.json()['id']}",
            json={"email": "anna@example.ru", "lines": [line], "status": "ordered"},
        )
        assert put.status_code == 200 and put.json()["status"] == "ordered"
        assert (
            api.put("/api/v1/carts/999", json={"email": "anna@example.ru", "lines": [line]}).status_code
            == 404
        )
        assert api.post("/api/v1/carts", json={"lines": [line]}).status_code == 400
        assert (
            api.post(
                "/api/v1/carts", json={"email": "a@b.ru", "lines": [{"sku": "X", "qty": 0, "price": 1}]}
            ).status_code
            == 400
        )

        web = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
        assert "Распродажа!" in web.get("/broadcasts").text
        page = web.get(f"/broadcasts/{b['id']}")
        assert page.status_code == 200 and "Отписались" in page.text
        carts_page = web.get("/carts")
        assert carts_page.status_code == 200 and "+79991112233" in carts_page.text
        rules = web.get("/admin/rules")
        assert rules.status_code == 200 and "Напоминание: заказ не оплачен" in rules.text
        made = web.post(
            "/admin/rules",
            data={"name": "Спасибо", "event": "order_paid", "action": "send", "text": "Спасибо за оплату"},
        )
        assert made.status_code in (302, 303), made.text
        bad_rule = web.post(
            "/admin/rules",
            data={"name": "Плохо", "event": "order_unpaid", "number": "много", "action": "send", "text": "x"},
        )
        assert bad_rule.status_code == 400 and "целое число" in bad_rule.text
        settings_page = web.get("/admin/sales")
        assert settings_page.status_code == 200 and "Пороги RFM" in settings_page.text
        saved = web.post(
            "/admin/sales",
            data={
                "r1": "20",
                "r2": "60",
                "attribution_days": "3",
                "level_name": ["Новичок", "Друг"],
                "level_threshold": ["0", "1000"],
                "level_discount": ["0", "5"],
            },
        )
        assert saved.status_code in (302, 303), saved.text
        assert web.post("/admin/sales", data={"quiet_start": "25"}).status_code == 400
        after = web.get("/segments").text
        assert "до 20 дн." in after
        async with factory() as s:
            from inbox.sales.config import load

            cfg = await load(s)
            assert cfg.attribution_days == 3 and [lv.discount for lv in cfg.levels] == [0, 5]
        # Анна has spent 4200 ₽: "Друг" from 1000 ₽ with 5 %
        card = web.get(f"/customers/{anna}").text
        assert "Друг" in card
        shown = api.get(f"/api/v1/customers/{anna}").json()["loyalty"]
        assert shown == {
            "level": "Друг",
            "discount": 5,
            "spent": 4200_00,
            "next_level": None,
            "left_to_next": None,
        }
