"""Order timers (draft expiry, automatic transitions, overdue reports on the manager's channel) and the
catalog / status CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import EventBus, manager_channel
from inbox.core.threads import BadFilter, ThreadFilter, list_threads
from inbox.db import SessionFactory, transaction
from inbox.models import Manager, Message, Order, OrderStatus, Outbox, Stock, utcnow
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status, run_order_action
from inbox.orders.timers import OrderTimers, overdue_thread_ids
from inbox.settings import Settings
from inbox.web.live import make_channels_plugin
from tests.orders_factories import add_customer, make_world
from tests.server import cli

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalog"


async def test_timers_expire_auto_cancel_and_report_overdue(
    factory: SessionFactory, settings: Settings
) -> None:
    world = await make_world(factory, {"A-1": (100000, 5)})
    async with transaction(factory) as s:
        boss = Manager(email="m@example.ru", name="Мария", password_hash="x")
        s.add(boss)
        await s.flush()
        boss_id = boss.id
        # "new" orders are cancelled by the system after their 60 minutes
        await s.execute(update(OrderStatus).where(OrderStatus.code == "new").values(auto_target="cancelled"))
    bus = EventBus()

    async def submitted(session: AsyncSession, fx: Effects) -> int:
        draft = await service.do_create_draft(
            session,
            customer_id=world.customer_id,
            thread_id=world.thread_id,
            actor=service.Actor.manager(boss_id),
        )
        await service.do_add_line(session, draft, world.products["A-1"], 2, actor=service.API)
        change = await service.do_submit(session, draft, actor=service.API)
        await after_status(session, fx, change)
        return draft.id

    order_id = await run_order_action(factory, bus, settings, submitted)
    async with transaction(factory) as s:
        await s.execute(
            update(OrderStatus).where(OrderStatus.code == "confirmed").values(time_limit_minutes=1)
        )
        draft = await service.do_create_draft(s, customer_id=world.customer_id, actor=service.API)
        await service.do_add_line(s, draft, world.products["A-1"], 1, actor=service.API)
        draft_id = draft.id

    plugin = make_channels_plugin(None)
    await plugin._on_startup()
    try:
        timers = OrderTimers(factory, EventBus(plugin), settings)
        now = utcnow() + timedelta(minutes=61)  # past the draft hold and the "new" limit
        async with factory() as s:
            assert await overdue_thread_ids(s, now) == {world.thread_id}
            assert await overdue_thread_ids(s, utcnow()) == set()
        did = await timers.tick(now)
        assert did["expired"] == 1 and did["auto"] == 1
        async with factory() as s:
            cancelled = await s.get(Order, order_id)
            assert cancelled is not None and cancelled.status == "cancelled"
            lines = await service.order_lines(s, draft_id)
            assert not lines[0].reserved
            stock = await s.get(Stock, (world.products["A-1"], world.warehouse_id))
            assert stock is not None and stock.reserved == 0
            events = [
                m.meta.get("to")
                for m in (
                    await s.execute(select(Message).where(Message.thread_id == world.thread_id))
                ).scalars()
                if m.meta.get("event") == "status"
            ]
            assert events == ["cancelled"]

        # Overdue: an order confirmed by hand stays past its (1 minute) limit: the manager hears once.
        async def confirmed(session: AsyncSession, fx: Effects) -> None:
            again = await service.do_create_draft(
                session,
                customer_id=world.customer_id,
                thread_id=world.thread_id,
                actor=service.Actor.manager(boss_id),
            )
            await service.do_add_line(session, again, world.products["A-1"], 1, actor=service.API)
            await service.do_submit(session, again, actor=service.API)
            await service.do_change_status(session, again, "confirmed", actor=service.API)

        await run_order_action(factory, bus, settings, confirmed)
        async with plugin.start_subscription([manager_channel(boss_id)]) as sub:
            later = utcnow() + timedelta(minutes=5)
            assert (await timers.tick(later))["overdue_reported"] == 1
            assert (await timers.tick(later))["overdue_reported"] == 0  # reported once per status entry
            raw = await asyncio.wait_for(anext(sub.iter_events()), timeout=5)
        event = json.loads(raw)
        assert event["type"] == "order.overdue" and event["thread_id"] == world.thread_id
        assert event["data"]["status"] == "confirmed" and event["data"]["manager_id"] == boss_id
    finally:
        await plugin._on_shutdown()


def test_catalog_import_cli_reports_rejections_and_statuses_round_trip(db_url: str, tmp_path: Path) -> None:
    env = {"INBOX_DATABASE_URL": db_url, "INBOX_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    done = cli(env, tmp_path, "catalog", "import", str(FIXTURES / "products.csv"), "--warehouse", "main")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "created" in out and "rejected" in out
    assert "BAD-PRICE: price 'девятьсот' is not a number" in out
    assert "duplicate sku 'TS-001'" in out
    again = cli(env, tmp_path, "catalog", "import", str(FIXTURES / "products.csv"))
    assert again.returncode == 0
    row = next(line for line in again.stdout.splitlines() if line.count("│") >= 4 and "created" not in line)
    assert [c.strip() for c in row.strip("│ ").split("│")][:2] == ["0", "0"]  # nothing new, nothing changed

    missing = cli(env, tmp_path, "catalog", "import", str(tmp_path / "nope.yml"))
    assert missing.returncode != 0 and "no such file" in missing.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text('<?xml version="1.0"?><yml_catalog><shop><offers><offer id="1">')
    bad = cli(env, tmp_path, "catalog", "import", str(broken), "--format", "yml")
    assert bad.returncode != 0 and "cannot import" in bad.stderr

    exported = tmp_path / "statuses.toml"
    assert cli(env, tmp_path, "orders", "statuses", "export", str(exported)).returncode == 0
    text = exported.read_text()
    assert 'code = "handed_to_delivery"' in text
    exported.write_text(
        text.replace('transitions = ["confirmed", "cancelled"]', 'transitions = ["ghost"]', 1)
    )
    refused = cli(env, tmp_path, "orders", "statuses", "import", str(exported))
    assert refused.returncode != 0 and "ghost" in refused.stderr
    exported.write_text(text)
    assert cli(env, tmp_path, "orders", "statuses", "import", str(exported)).returncode == 0


async def test_a_discarded_draft_is_noted_but_never_sent_to_the_shop(
    factory: SessionFactory, settings: Settings
) -> None:
    world = await make_world(factory, {"A-1": (100000, 5)})
    configured = settings.with_(shop_webhook_url="http://127.0.0.1:9/hook", shop_webhook_secret="s" * 20)

    async def discard(session: AsyncSession, fx: Effects) -> None:
        draft = await service.do_create_draft(
            session, customer_id=world.customer_id, thread_id=world.thread_id, actor=service.API
        )
        await service.do_add_line(session, draft, world.products["A-1"], 1, actor=service.API)
        await after_status(session, fx, await service.do_cancel(session, draft, actor=service.API))

    async def place(session: AsyncSession, fx: Effects) -> None:
        draft = await service.do_create_draft(
            session, customer_id=world.customer_id, thread_id=world.thread_id, actor=service.API
        )
        await service.do_add_line(session, draft, world.products["A-1"], 1, actor=service.API)
        await after_status(session, fx, await service.do_submit(session, draft, actor=service.API))

    await run_order_action(factory, EventBus(), configured, discard)
    async with factory() as s:
        assert (await s.execute(select(Outbox))).scalars().all() == []
        notes = [m.meta for m in (await s.execute(select(Message))).scalars()]
    assert [(n["event"], n["to"], n["number"]) for n in notes] == [("status", "cancelled", None)]
    await run_order_action(factory, EventBus(), configured, place)
    async with factory() as s:
        rows = list((await s.execute(select(Outbox))).scalars())
    assert [(r.kind, r.message_id) for r in rows] == [("webhook", None)]
    assert (
        rows[0].payload["url"] == "http://127.0.0.1:9/hook" and '"order.created"' in rows[0].payload["body"]
    )


async def test_overdue_thread_filter(factory: SessionFactory) -> None:
    world = await make_world(factory, {"A-1": (100000, 5)})
    async with transaction(factory) as s:
        order = await service.do_create_draft(
            s, customer_id=world.customer_id, thread_id=world.thread_id, actor=service.API
        )
        await service.do_add_line(s, order, world.products["A-1"], 1, actor=service.API)
        await service.do_submit(s, order, actor=service.API)  # "new": 60 minutes
        _, calm_thread = await add_customer(s, name="Спокойный")
    overdue = ThreadFilter(extra={"overdue": "1"})
    calm = ThreadFilter(extra={"overdue": "0"})
    async with factory() as s:
        assert [r.id for r in (await list_threads(s, filters=overdue))[0]] == []
    async with transaction(factory) as s:
        await s.execute(
            update(Order)
            .where(Order.id == order.id)
            .values(status_changed_at=utcnow() - timedelta(minutes=61))
        )
    async with factory() as s:
        assert [r.id for r in (await list_threads(s, filters=overdue))[0]] == [world.thread_id]
        assert [r.id for r in (await list_threads(s, filters=calm))[0]] == [calm_thread]
        assert await overdue_thread_ids(s) == {world.thread_id}
        with pytest.raises(BadFilter):
            await list_threads(s, filters=ThreadFilter(extra={"overdue": "maybe"}))
