"""The API shows what the inbox shows: a message's linked order, a letter's subject and Message-ID, notes
and system events with their kind, a thread's orders, and GET /api/v1/orders/{number}/messages; on SQLite
and PostgreSQL over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, Author, Delivery, Direction, Manager, Message
from inbox.orders import service as svc
from inbox.settings import Settings
from inbox.team import assignment, notes
from tests.integration.test_merge_api import served
from tests.orders_factories import make_world

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def letter(world_thread: int, customer: int, at: datetime, **meta: object) -> Message:
    return Message(
        thread_id=world_thread,
        customer_id=customer,
        direction=Direction.IN,
        author=Author.CUSTOMER,
        channel="email",
        text="Где заказ?",
        meta=meta,
        delivery=Delivery.NONE,
        revisions=[],
        created_at=at,
    )


@pytest.fixture
async def token(factory: SessionFactory) -> str:
    raw = new_api_token()
    async with transaction(factory) as s:
        s.add(ApiToken(name="erp", token_sha256=token_digest(raw)))
    return raw


async def test_messages_show_order_email_and_kind(
    factory: SessionFactory, settings: Settings, token: str
) -> None:
    world = await make_world(factory)
    actor = svc.Actor("api")
    async with transaction(factory) as s:
        order = await svc.do_create_draft(
            s, customer_id=world.customer_id, actor=actor, thread_id=world.thread_id
        )
        await svc.do_add_line(s, order, world.products["A-1"], 1, actor=actor)
        await svc.do_submit(s, order, actor=actor)
        number, order_id = order.number, order.id
        about = letter(
            world.thread_id,
            world.customer_id,
            T0,
            subject="Заказ 1001",
            email={"subject": "Заказ 1001", "message_id": "<q1@example.org>", "in_reply_to": None},
        )
        other = letter(
            world.thread_id, world.customer_id, T0 + timedelta(minutes=1), email={"subject": "Привет"}
        )
        s.add_all([about, other])
        manager = Manager(email="m@shop.test", name="Мария", password_hash="x")
        s.add(manager)
        await s.flush()
        await s.execute(update(Message).where(Message.id == about.id).values(order_id=order_id))
        await notes.add_note(s, world.thread_id, manager.id, "проверить оплату")
        await assignment.assign(s, world.thread_id, manager.id, manager.id)
    with served(settings) as base:
        async with httpx.AsyncClient(
            base_url=base + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=20
        ) as api:
            items = (await api.get(f"/threads/{world.thread_id}/messages")).json()["items"]
            linked = next(m for m in items if m["order"])
            assert linked["order"] == {"id": order_id, "number": number, "status": "new", "total": 199000}
            assert (
                linked["email"]["subject"] == "Заказ 1001"
                and linked["email"]["message_id"] == "q1@example.org"
            )
            plain = next(m for m in items if m["email"] and m["email"]["subject"] == "Привет")
            assert plain["order"] is None and plain["kind"] is None
            kinds = {m["kind"] for m in items}
            assert "note" in kinds and "assign" in kinds, kinds

            threads = (await api.get("/threads")).json()["items"]
            assert [o["number"] for o in threads[0]["orders"]] == [number]

            by_order = await api.get(f"/orders/{number}/messages")
            assert by_order.status_code == 200
            assert [m["id"] for m in by_order.json()["items"]] == [linked["id"]]
            assert (await api.get("/orders/999999/messages")).status_code == 404
            schema = (await httpx.AsyncClient(base_url=base).get("/api/schema/openapi.json")).json()
            assert "/api/v1/orders/{number}/messages" in schema["paths"]
