"""The 360° customer card over real HTTP, in Russian, on SQLite and PostgreSQL: orders with status and total,
lifetime value and figures, conversations per channel, notes, labels; the profile edited and validated
(phone normalised to E.164, custom fields an admin defined); consent recorded by a manager; the compact
card of the thread's side panel."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from inbox.core.ingest import apply_message
from inbox.core.security import hash_password
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.customer_card.consent import consent_history
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Customer, Manager, Message, Thread
from inbox.orders import service as svc
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code
from inbox.settings import Settings
from inbox.team import labels, notes
from tests.integration.test_merge_api import served, sign_in
from tests.orders_factories import add_product

PASSWORD = "pw-123456789"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
async def olga(factory: SessionFactory) -> dict[str, int]:
    async with transaction(factory) as s:
        tg = ChannelAccount(kind="telegram", name="tg", settings={}, secrets={}, state={})
        s.add(tg)
        await s.flush()
        await apply_message(
            s,
            InboundMessage(
                kind=ChannelKind.TELEGRAM,
                account_id=tg.id,
                external_user_id="501",
                external_message_id="501:1",
                sent_at=T0,
                text="Где мой заказ?",
                contact=ContactHints(display_name="Ольга"),
            ),
            [],
        )
        customer_id = (await s.execute(select(Customer.id))).scalar_one()
        thread_id = (await s.execute(select(Thread.id))).scalar_one()
        admin = Manager(email="a@shop.test", name="Анна", password_hash=hash_password(PASSWORD), role="admin")
        s.add(admin)
        await s.flush()
        await notes.add_note(s, thread_id, admin.id, "любит доставку курьером")
        label = await labels.create_label(s, "Постоянный")
        await labels.label_customer(s, customer_id, label.id)
        await ensure_defaults(s)
        wh = await warehouse_by_code(s, "main")
        kettle = await add_product(s, "KETTLE", 259900, 10, wh.id, name="Чайник")
        actor = svc.Actor.manager(admin.id)
        numbers = []
        for cancel in (False, True):
            order = await svc.do_create_draft(s, customer_id=customer_id, actor=actor, thread_id=thread_id)
            await svc.do_add_line(s, order, kettle, 1, actor=actor)
            await svc.do_submit(s, order, actor=actor)
            if cancel:
                await svc.do_cancel(s, order, actor=actor)
            numbers.append(order.number or 0)
        return {"customer": customer_id, "thread": thread_id, "admin": admin.id, "kept": numbers[0]}


async def test_card_shows_everything_and_edits_with_validation(
    olga: dict[str, int], factory: SessionFactory, settings: Settings
) -> None:
    cid = olga["customer"]
    with served(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as web:
            csrf = await sign_in(web, "a@shop.test", PASSWORD)
            htmx = {"HX-Request": "true", "x-csrftoken": csrf}
            added = await web.post(
                "/admin/custom-fields/",
                data={"name": "Размер обуви", "key": "shoe", "kind": "number", "_csrf_token": csrf},
            )
            assert added.status_code == 303
            await web.post(
                "/admin/custom-fields/",
                data={
                    "name": "Канал",
                    "key": "source",
                    "kind": "select",
                    "options": "Сайт\nМагазин",
                    "_csrf_token": csrf,
                },
            )
            bad_key = await web.post(
                "/admin/custom-fields/",
                data={"name": "x", "key": "Bad Key", "kind": "text", "_csrf_token": csrf},
            )
            assert bad_key.status_code == 400 and "Ключ" in bad_key.text

            card = (await web.get(f"/customers/{cid}")).text
            assert (
                "Сумма покупок" in card and "2\u00a0599\u00a0₽" in card
            )  # the cancelled order does not count
            assert f"№{olga['kept']}" in card and "Новый" in card and "Отменён" in card
            assert "Где мой заказ?" in card and "Telegram" in card  # the conversation per channel
            assert "любит доставку курьером" in card and "Постоянный" in card
            assert "Размер обуви" in card and 'name="field_source"' in card

            wrong = await web.post(
                f"/customers/{cid}/profile",
                data={
                    "name": "Ольга Петрова",
                    "phone": "12",
                    "email": "olga@",
                    "field_shoe": "сорок",
                    "field_source": "Сайт",
                },
                headers=htmx,
            )
            assert wrong.status_code == 400
            assert "12 — не номер телефона." in wrong.text and "не адрес электронной почты" in wrong.text
            assert "Размер обуви: нужно число." in wrong.text
            async with factory() as s:
                unchanged = await s.get(Customer, cid)
                assert unchanged is not None and unchanged.name == "Ольга" and unchanged.phone is None

            ok = await web.post(
                f"/customers/{cid}/profile",
                data={
                    "name": "Ольга Петрова",
                    "phone": "8 (916) 123-45-67",
                    "email": "Olga@Example.org",
                    "birthday": "1990-05-17",
                    "addresses": "Москва, Ленина 1\n\nТверь, Мира 2",
                    "field_shoe": "38,5",
                    "field_source": "Сайт",
                },
                headers=htmx,
            )
            assert ok.status_code == 200, ok.text
            assert 'value="+79161234567"' in ok.text
            async with factory() as s:
                c = await s.get(Customer, cid)
                assert c is not None
                assert (c.name, c.phone, c.email, c.birthday.isoformat() if c.birthday else None) == (
                    "Ольга Петрова",
                    "+79161234567",
                    "olga@example.org",
                    "1990-05-17",
                )
                assert c.addresses == ["Москва, Ленина 1", "Тверь, Мира 2"]
                assert c.fields == {"shoe": 38.5, "source": "Сайт"}
            future = await web.post(
                f"/customers/{cid}/profile", data={"birthday": "2999-01-01"}, headers=htmx
            )
            assert future.status_code == 400 and "в прошлом" in future.text

            agreed = await web.post(
                f"/customers/{cid}/consent", data={"channel": "telegram", "marketing": "1"}, headers=htmx
            )
            assert agreed.status_code == 200 and "согласен" in agreed.text and "менеджер" in agreed.text
            pigeon = await web.post(
                f"/customers/{cid}/consent", data={"channel": "pigeon", "marketing": "1"}, headers=htmx
            )
            assert pigeon.status_code == 400 and "Неизвестный канал" in pigeon.text

            compact = await web.get(f"/customers/{cid}/compact", headers=htmx)
            assert (
                compact.status_code == 200
                and "Сумма покупок" in compact.text
                and "Постоянный" in compact.text
            )
            thread = await web.get(f"/threads/{olga['thread']}")
            assert f'hx-get="/customers/{cid}/compact"' in thread.text
    async with factory() as s:
        (record,) = await consent_history(s, cid)
        assert (record.source, record.recorded_by, record.marketing) == ("manager", olga["admin"], True)
        assert (await s.execute(select(Message.id))).first() is not None
