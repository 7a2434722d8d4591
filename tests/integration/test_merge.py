"""Merging customers, splitting identities, duplicate suggestions and the preferred channel, on SQLite and
PostgreSQL; concurrent vouched contacts end in one customer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from inbox import models
from inbox.core.ingest import apply_message
from inbox.core.merge import (
    BadRequest,
    NotFound,
    Refused,
    UnresolvedConflicts,
    choose_preferred_channel,
    live_thread,
    merge_customers,
    merge_history,
    split_identity,
    suggest_duplicates,
)
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Customer, Direction, Identity, MergeLog, Message, Thread

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PHONE = "+79161234567"


async def account(factory: SessionFactory, kind: str, name: str) -> int:
    async with transaction(factory) as session:
        row = ChannelAccount(kind=kind, name=name, settings={}, secrets={}, state={})
        session.add(row)
        await session.flush()
        return row.id


def msg(
    kind: ChannelKind, acc: int, user: str, mid: str, text: str, at: datetime = T0, **contact: str
) -> InboundMessage:
    return InboundMessage(
        kind=kind,
        account_id=acc,
        external_user_id=user,
        external_message_id=mid,
        sent_at=at,
        text=text,
        contact=ContactHints(**contact),
    )


async def inbound(factory: SessionFactory, m: InboundMessage) -> int:
    """Store one inbound message; returns its customer id."""
    async with transaction(factory) as session:
        await apply_message(session, m, [])
        return int(
            (
                await session.execute(
                    select(Message.customer_id).where(
                        Message.account_id == m.account_id, Message.external_id == m.external_message_id
                    )
                )
            ).scalar_one()
        )


@pytest.fixture
async def two(factory: SessionFactory) -> tuple[int, int, int, int]:
    """Anna on Telegram (two messages) and an SMS sender with the same phone typed by hand on Telegram."""
    tg = await account(factory, "telegram", "tg")
    sms = await account(factory, "sms", "sms")
    anna = await inbound(
        factory,
        msg(ChannelKind.TELEGRAM, tg, "42", "42:1", "Привет", display_name="Анна", phone_unverified=PHONE),
    )
    await inbound(
        factory, msg(ChannelKind.TELEGRAM, tg, "42", "42:2", "Где заказ?", T0 + timedelta(minutes=1))
    )
    other = await inbound(
        factory,
        msg(
            ChannelKind.SMS,
            sms,
            PHONE,
            "sms-1",
            "Это Анна, с телефона",
            T0 + timedelta(minutes=5),
            phone=PHONE,
        ),
    )
    assert anna != other
    return anna, other, tg, sms


async def thread_id_of(factory: SessionFactory, customer_id: int) -> int:
    async with factory() as session:
        return int(
            (await session.execute(select(Thread.id).where(Thread.customer_id == customer_id))).scalar_one()
        )


async def test_suggestions_find_unverified_phone_match_only(
    factory: SessionFactory, two: tuple[int, int, int, int]
) -> None:
    anna, other, tg, _ = two
    stranger = await inbound(
        factory,
        msg(
            ChannelKind.TELEGRAM,
            tg,
            "99",
            "99:1",
            "hi",
            display_name="Борис",
            phone_unverified="+79035550000",
        ),
    )
    async with factory() as session:
        from_anna = await suggest_duplicates(session, anna)
        from_sms = await suggest_duplicates(session, other)
        from_stranger = await suggest_duplicates(session, stranger)
    assert [(s.customer_id, s.reason, s.field) for s in from_anna] == [(other, "same_phone", "phone")]
    assert [s.customer_id for s in from_sms] == [anna]
    assert from_stranger == []


async def test_merge_conflicts_refused_then_resolved_and_everything_moves(
    factory: SessionFactory, two: tuple[int, int, int, int]
) -> None:
    anna, other, _, sms = two
    anna_thread, other_thread = await thread_id_of(factory, anna), await thread_id_of(factory, other)
    async with transaction(factory) as session:  # a note on the SMS customer's thread, and differing names
        session.add(
            Message(
                thread_id=other_thread,
                customer_id=other,
                direction=Direction.NOTE,
                author="manager",
                text="звонила, просила перезвонить",
                meta={},
                revisions=[],
                delivery="none",
                created_at=T0 + timedelta(minutes=6),
            )
        )
        row = await session.get(Customer, other)
        assert row is not None
        row.name, row.locale = "Анна Смирнова", "ru"
        a = await session.get(Customer, anna)
        assert a is not None
        a.locale = "en"
        order_cls = getattr(models, "Order", None)
        if order_cls is not None:  # the orders branch: an order of the other customer moves too
            session.add(order_cls(customer_id=other, thread_id=other_thread))

    with pytest.raises(UnresolvedConflicts) as refused:
        async with transaction(factory) as session:
            await merge_customers(session, anna, other, None, actor="test")
    assert {c.field for c in refused.value.conflicts} == {"name", "locale"}  # same phone: no conflict
    assert "name" in refused.value.reason and "locale" in refused.value.reason
    with pytest.raises(UnresolvedConflicts) as partial:
        async with transaction(factory) as session:
            await merge_customers(session, anna, other, {"name": "other"}, actor="test")
    assert [c.field for c in partial.value.conflicts] == ["locale"]
    with pytest.raises(BadRequest):
        async with transaction(factory) as session:
            await merge_customers(session, anna, other, {"shoe_size": "other"}, actor="test")
    with pytest.raises(BadRequest):
        async with transaction(factory) as session:
            await merge_customers(session, anna, anna, None, actor="test")

    async with transaction(factory) as session:
        result = await merge_customers(
            session, anna, other, {"name": "other", "locale": "survivor"}, "manager:1"
        )
    assert result.survivor.id == anna and result.thread_id == anna_thread
    assert result.moved["identities"] == 1 and result.moved["messages"] == 2
    assert {c.field: c.chosen for c in result.conflicts} == {"name": "other", "locale": "survivor"}
    assert [e.type for e in result.events] == ["customer.merged", "thread.updated"]

    async with factory() as session:
        survivor = await session.get(Customer, anna)
        tomb = await session.get(Customer, other)
        assert survivor is not None and tomb is not None
        assert survivor.name == "Анна Смирнова" and survivor.locale == "en"
        assert survivor.phone == PHONE and survivor.phone_verified  # the SMS side vouched for it
        assert tomb.merged_into_id == anna
        kinds = sorted(
            (await session.execute(select(Identity.kind).where(Identity.customer_id == anna))).scalars()
        )
        assert kinds == ["sms", "telegram"]
        msgs = list(
            (
                await session.execute(
                    select(Message).where(Message.thread_id == anna_thread).order_by(Message.id)
                )
            ).scalars()
        )
        assert [m.text for m in msgs if m.direction != "event"] == [
            "Привет",
            "Где заказ?",
            "Это Анна, с телефона",
            "звонила, просила перезвонить",
        ]
        assert all(m.customer_id == anna for m in msgs)
        assert any(m.direction == "event" and m.meta.get("kind") == "merge" for m in msgs)
        thread = await session.get(Thread, anna_thread)
        assert thread is not None
        assert thread.unread_count == 3 and thread.last_preview == "Это Анна, с телефона"
        assert thread.last_inbound_channel == "sms" and thread.last_message_at == T0 + timedelta(minutes=5)
        old = await live_thread(session, other_thread)
        assert old is not None and old.id == anna_thread  # old thread ids keep resolving
        assert (await live_thread(session, 999_999)) is None
        log = (await session.execute(select(MergeLog))).scalar_one()
        assert (
            log.action == "merge" and log.actor == "manager:1" and log.conflicts["name"]["chosen"] == "other"
        )
        assert [h.id for h in await merge_history(session, other)] == [log.id]
        if getattr(models, "Order", None) is not None:
            assert result.moved.get("orders") == 1

    with pytest.raises(Refused, match="уже объединён"):  # the tombstone cannot be merged again
        async with transaction(factory) as session:
            await merge_customers(session, anna, other, {}, actor="test")
    with pytest.raises(Refused, match="объединяйте с ним"):
        async with transaction(factory) as session:
            await merge_customers(session, other, anna, {}, actor="test")
    with pytest.raises(NotFound):
        async with transaction(factory) as session:
            await merge_customers(session, anna, 999_999, {}, actor="test")

    # A message arriving later on the SMS identity lands on the survivor's thread.
    assert (
        await inbound(
            factory, msg(ChannelKind.SMS, sms, PHONE, "sms-2", "ещё", T0 + timedelta(hours=1), phone=PHONE)
        )
        == anna
    )
    assert await thread_id_of(factory, anna) == anna_thread


async def test_split_restores_identity_and_its_messages(
    factory: SessionFactory, two: tuple[int, int, int, int]
) -> None:
    anna, other, _, _ = two
    async with transaction(factory) as session:
        await merge_customers(session, anna, other, {}, actor="test")
    async with transaction(factory) as session:
        await choose_preferred_channel(session, anna, "sms")
        sms_ident = (
            await session.execute(
                select(Identity).where(Identity.customer_id == anna, Identity.kind == "sms")
            )
        ).scalar_one()
    async with transaction(factory) as session:
        result = await split_identity(session, anna, sms_ident.id, actor="test")
    new = result.customer
    assert new.id not in (anna, other) and new.phone == PHONE and new.phone_verified
    async with factory() as session:
        ident = await session.get(Identity, sms_ident.id)
        assert ident is not None and ident.customer_id == new.id
        new_msgs = list(
            (
                await session.execute(
                    select(Message.text).where(
                        Message.thread_id == result.thread_id, Message.direction == "in"
                    )
                )
            ).scalars()
        )
        assert new_msgs == ["Это Анна, с телефона"]
        anna_texts = list(
            (
                await session.execute(
                    select(Message.text)
                    .where(Message.customer_id == anna, Message.direction == "in")
                    .order_by(Message.id)
                )
            ).scalars()
        )
        assert anna_texts == ["Привет", "Где заказ?"]
        anna_row = await session.get(Customer, anna)
        assert anna_row is not None and anna_row.preferred_channel is None  # sms is no longer hers
        old_thread = (await session.execute(select(Thread).where(Thread.customer_id == anna))).scalar_one()
        new_thread = await session.get(Thread, result.thread_id)
        assert new_thread is not None
        assert old_thread.unread_count == 2 and new_thread.unread_count == 1
        assert old_thread.last_preview == "Где заказ?" and old_thread.last_inbound_channel == "telegram"
        assert new_thread.last_inbound_channel == "sms"
        # the pair a manager split apart is not suggested again
        assert all(s.customer_id != new.id for s in await suggest_duplicates(session, anna))
        tg_ident = (
            await session.execute(select(Identity.id).where(Identity.customer_id == anna))
        ).scalar_one()
    with pytest.raises(Refused, match="единственный канал"):
        async with transaction(factory) as session:
            await split_identity(session, anna, tg_ident, actor="test")
    with pytest.raises(NotFound):
        async with transaction(factory) as session:
            await split_identity(session, new.id, tg_ident, actor="test")


async def test_preferred_channel_must_be_one_of_the_customers(
    factory: SessionFactory, two: tuple[int, int, int, int]
) -> None:
    anna, _, _, _ = two
    async with transaction(factory) as session:
        assert (await choose_preferred_channel(session, anna, "telegram")).preferred_channel == "telegram"
    with pytest.raises(BadRequest, match="нет канала sms"):
        async with transaction(factory) as session:
            await choose_preferred_channel(session, anna, "sms")
    with pytest.raises(BadRequest, match="неизвестный канал"):
        async with transaction(factory) as session:
            await choose_preferred_channel(session, anna, "pigeon")
    async with transaction(factory) as session:
        assert (await choose_preferred_channel(session, anna, None)).preferred_channel is None


async def test_contact_share_and_sms_from_same_phone_at_once_make_one_customer(
    factory: SessionFactory,
) -> None:
    """A new Telegram user sharing their contact and an SMS from that phone, on two workers at once."""
    tg = await account(factory, "telegram", "tg")
    sms = await account(factory, "sms", "sms")
    for round_ in range(4):
        phone = f"+7916123450{round_}"
        share = msg(
            ChannelKind.TELEGRAM, tg, f"u{round_}", f"c{round_}", "", display_name="Вера", phone=phone
        )
        text = msg(ChannelKind.SMS, sms, phone, f"s{round_}", "это Вера", phone=phone)
        a, b = await asyncio.gather(inbound(factory, share), inbound(factory, text))
        assert a == b
        async with factory() as session:
            n = (
                await session.execute(
                    select(func.count()).select_from(Customer).where(Customer.phone == phone)
                )
            ).scalar_one()
        assert n == 1


async def test_merge_racing_an_inbound_message_strands_nothing(factory: SessionFactory) -> None:
    """A message for the other customer stored while the merge runs lands on the survivor's thread."""
    tg = await account(factory, "telegram", "tg")
    sms = await account(factory, "sms", "sms")
    for round_ in range(6):
        phone = f"+7916555000{round_}"
        anna = await inbound(
            factory, msg(ChannelKind.TELEGRAM, tg, f"a{round_}", f"a{round_}", "hi", display_name="A")
        )
        other = await inbound(factory, msg(ChannelKind.SMS, sms, phone, f"s{round_}:1", "sms 1", phone=phone))

        async def merge(survivor: int = anna, gone: int = other) -> None:
            async with transaction(factory) as session:
                await merge_customers(session, survivor, gone, {}, actor="race")

        late = msg(
            ChannelKind.SMS, sms, phone, f"s{round_}:2", "sms 2", T0 + timedelta(minutes=1), phone=phone
        )
        await asyncio.gather(merge(), inbound(factory, late))
        old_thread = await thread_id_of(factory, other)
        async with factory() as session:
            rows = (
                await session.execute(
                    select(Message.thread_id, Message.customer_id).where(
                        Message.account_id == sms, Message.external_id.like(f"s{round_}:%")
                    )
                )
            ).all()
            survivor_thread = await live_thread(session, old_thread)
        assert survivor_thread is not None
        assert sorted(rows) == [(survivor_thread.id, anna)] * 2
