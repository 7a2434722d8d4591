"""Inbound core on SQLite and PostgreSQL: raw events are idempotent, one customer/identity/thread per sender,
edits keep the original, concurrent first messages from a new sender create one customer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from inbox.core.ingest import EditTargetMissing, apply_edit, apply_message, store_raw
from inbox.core.types import ChannelKind, ContactHints, InboundEdit, InboundMessage, RawEvent
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Customer, Identity, InboundEvent, Message, Thread

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def account(factory: SessionFactory, kind: str = "telegram", name: str = "shop") -> int:
    async with transaction(factory) as session:
        row = ChannelAccount(kind=kind, name=name, settings={}, secrets={}, state={})
        session.add(row)
        await session.flush()
        return row.id


def inbound(
    account_id: int, user: str, mid: str, text: str, at: datetime = T0, **contact: str
) -> InboundMessage:
    return InboundMessage(
        kind=ChannelKind.TELEGRAM,
        account_id=account_id,
        external_user_id=user,
        external_message_id=mid,
        sent_at=at,
        text=text,
        contact=ContactHints(**contact),
    )


async def count(factory: SessionFactory, model: type) -> int:
    async with factory() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_raw_events_are_stored_once(factory: SessionFactory) -> None:
    acc = await account(factory)
    assert (
        await store_raw(factory, acc, [RawEvent("1", {"update_id": 1}), RawEvent("2", {"update_id": 2})]) == 2
    )
    assert (
        await store_raw(factory, acc, [RawEvent("2", {"update_id": 2}), RawEvent("3", {"update_id": 3})]) == 1
    )
    assert await count(factory, InboundEvent) == 3


async def test_one_customer_identity_thread_per_sender(factory: SessionFactory) -> None:
    acc = await account(factory)
    async with transaction(factory) as session:
        ev1 = await apply_message(session, inbound(acc, "42", "42:1", "Привет", display_name="Анна"), [])
        ev2 = await apply_message(
            session, inbound(acc, "42", "42:2", "Где заказ?", T0 + timedelta(minutes=1)), []
        )
        dup = await apply_message(session, inbound(acc, "42", "42:2", "Где заказ?"), [])
        await apply_message(session, inbound(acc, "43", "43:1", "Здравствуйте"), [])
    assert ev1 and ev2 and dup is None
    assert await count(factory, Customer) == 2
    assert await count(factory, Identity) == 2
    assert await count(factory, Thread) == 2
    assert await count(factory, Message) == 3
    async with factory() as session:
        thread = (await session.execute(select(Thread).order_by(Thread.id))).scalars().first()
        assert thread is not None
        assert thread.unread_count == 2 and thread.last_preview == "Где заказ?"
        customer = await session.get(Customer, thread.customer_id)
        assert customer is not None and customer.name == "Анна"


async def test_vouched_phone_joins_existing_customer_unverified_does_not(factory: SessionFactory) -> None:
    tg = await account(factory)
    sms = await account(factory, "sms", "sms")
    async with transaction(factory) as session:
        await apply_message(session, inbound(tg, "7", "7:1", "hi", phone="+79161234567"), [])
        await apply_message(
            session,
            InboundMessage(
                kind=ChannelKind.SMS,
                account_id=sms,
                external_user_id="+79161234567",
                external_message_id="sms-1",
                sent_at=T0,
                text="это я",
                contact=ContactHints(phone="+79161234567"),
            ),
            [],
        )
        await apply_message(session, inbound(tg, "8", "8:1", "hi", phone_unverified="+79161234567"), [])
    assert await count(factory, Customer) == 2  # the typed-in phone did not merge anyone
    assert await count(factory, Thread) == 2


async def test_edit_updates_text_and_keeps_original(factory: SessionFactory) -> None:
    acc = await account(factory)
    async with transaction(factory) as session:
        await apply_message(session, inbound(acc, "42", "42:1", "Хочу 2 штуки"), [])
    edit = InboundEdit(
        kind=ChannelKind.TELEGRAM,
        account_id=acc,
        external_user_id="42",
        external_message_id="42:1",
        edited_at=T0 + timedelta(minutes=2),
        text="Хочу 3 штуки",
    )
    async with transaction(factory) as session:
        assert await apply_edit(session, edit)
        assert await apply_edit(session, edit) is False  # the same edit again changes nothing
    async with factory() as session:
        msg = (await session.execute(select(Message))).scalar_one()
    assert msg.text == "Хочу 3 штуки"
    assert [r["text"] for r in msg.revisions] == ["Хочу 2 штуки"]
    orphan = InboundEdit(
        kind=ChannelKind.TELEGRAM,
        account_id=acc,
        external_user_id="42",
        external_message_id="42:99",
        edited_at=T0,
        text="?",
    )
    async with transaction(factory) as session:
        try:
            await apply_edit(session, orphan)
        except EditTargetMissing:
            pass
        else:
            raise AssertionError("an edit of an unknown message must be retried, not dropped")


async def test_concurrent_first_messages_create_one_customer(factory: SessionFactory) -> None:
    acc = await account(factory)

    async def one(i: int) -> None:
        async with transaction(factory) as session:
            await apply_message(
                session, inbound(acc, "555", f"555:{i}", f"msg {i}", display_name="Новый"), []
            )

    await asyncio.gather(*(one(i) for i in range(8)))
    assert await count(factory, Message) == 8
    assert await count(factory, Identity) == 1
    assert await count(factory, Customer) == 1
    assert await count(factory, Thread) == 1
