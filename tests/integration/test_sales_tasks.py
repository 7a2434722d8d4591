"""Tasks on SQLite and PostgreSQL: created for a customer or an order, listed soonest first with overdue ones
flagged, done and undone; shown in the inbox and on the customer card over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import Manager, utcnow
from inbox.sales import NotFound, SalesError, tasks
from inbox.settings import Settings
from tests.sales_world import add_order, days_ago, segment_shop, signed_in
from tests.server import threaded_server


async def test_tasks_listed_soonest_first_with_overdue_flagged(factory: SessionFactory) -> None:
    shop = await segment_shop(factory)
    await seed(factory)
    now = utcnow()
    async with transaction(factory) as s:
        me = (await s.execute(select(Manager).where(Manager.email == DEMO_EMAIL))).scalar_one()
        anna = shop.customers["Анна"]
        order_id = await add_order(s, shop, shop.customers["Борис"], 100_00, days_ago(1))
        late = await tasks.create_task(
            s,
            title="  Перезвонить   Анне ",
            due_at=now - timedelta(hours=2),
            assignee_id=me.id,
            customer_id=anna,
        )
        soon = await tasks.create_task(
            s, title="Проверить оплату", due_at=now + timedelta(hours=3), assignee_id=me.id, order_id=order_id
        )
        other = await tasks.create_task(s, title="Чужая", due_at=now + timedelta(days=1), customer_id=anna)
        with pytest.raises(SalesError):
            await tasks.create_task(s, title=" ", due_at=now, customer_id=anna)
        with pytest.raises(SalesError):
            await tasks.create_task(s, title="ни к кому", due_at=now)
        with pytest.raises(NotFound):
            await tasks.create_task(s, title="x", due_at=now, order_id=999_999)
    assert late.title == "Перезвонить Анне"
    assert soon.customer_id == shop.customers["Борис"]  # the order's customer

    async with factory() as s:
        mine = await tasks.list_tasks(s, assignee_id=me.id, now=now)
        assert [(v.task.id, v.overdue) for v in mine] == [(late.id, True), (soon.id, False)]
        assert mine[1].order_number == 1012 and mine[1].customer == "Борис"  # 11 orders in segment_shop
        on_card = await tasks.list_tasks(s, customer_id=anna, now=now)
        assert [v.task.id for v in on_card] == [late.id, other.id]
    async with transaction(factory) as s:
        await tasks.complete_task(s, late.id)
    async with factory() as s:
        assert [v.task.id for v in await tasks.list_tasks(s, assignee_id=me.id)] == [soon.id]
        with_done = await tasks.list_tasks(s, assignee_id=me.id, include_done=True)
        assert [(v.task.id, v.overdue) for v in with_done] == [(soon.id, False), (late.id, False)]


async def test_tasks_in_the_inbox_and_on_the_card(factory: SessionFactory, settings: Settings) -> None:
    shop = await segment_shop(factory)
    await seed(factory)
    anna = shop.customers["Анна"]
    with threaded_server(settings, run_workers=False) as base:
        client = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
        r = client.post(
            "/tasks", data={"title": "Позвонить Анне", "due": "2020-01-01T10:00", "customer_id": str(anna)}
        )
        assert r.status_code in (302, 303), r.text
        r = client.post("/tasks", data={"title": "", "due": "2020-01-01T10:00", "customer_id": str(anna)})
        assert r.status_code == 400 and "1 до 300" in r.text
        r = client.post("/tasks", data={"title": "x", "due": "завтра", "customer_id": str(anna)})
        assert r.status_code == 400 and "ГГГГ-ММ-ДД" in r.text
        inbox = client.get("/")
        assert "Позвонить Анне" in inbox.text and "просрочена" in inbox.text
        card = client.get(f"/customers/{anna}")
        assert card.status_code == 200 and "Позвонить Анне" in card.text
        assert "Бронза" in card.text  # 5000 ₽ spent: below Silver (10 000 ₽)
        overdue_only = client.get("/?f_tasks=overdue")
        assert "Анна" in overdue_only.text and "Борис" not in overdue_only.text
        async with factory() as s:
            task = (await tasks.list_tasks(s, customer_id=anna))[0]
        r = client.post(f"/tasks/{task.task.id}/done", data={"done": "1"}, headers={"hx-request": "true"})
        assert r.status_code == 200 and "i-check" in r.text
        assert "Позвонить Анне" not in client.get("/tasks").text
        assert client.post("/tasks/999999/done", data={"done": "1"}).status_code == 404
