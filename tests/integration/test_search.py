"""Search on both databases (Cyrillic morphology on PostgreSQL), and EXPLAIN: the inbox list, a thread
page and message search use indexes, not full scans."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.threads import ThreadFilter, thread_list_query
from inbox.db import SessionFactory, is_postgres, transaction
from inbox.demo import seed
from inbox.models import ChannelAccount, Customer, Identity, Message, Thread, utcnow
from inbox.team import notes
from inbox.team.search import START, STOP, BadQuery, customer_id_queries, marked, message_query, search


@pytest.fixture
async def shop(factory: SessionFactory) -> dict[str, int]:
    await seed(factory)
    async with factory() as session:
        rows = await session.execute(
            select(Customer.name, Thread.id).join(Thread, Thread.customer_id == Customer.id)
        )
        return {name: tid for name, tid in rows.all()}


async def test_customers_by_phone_in_any_format_name_and_username(
    factory: SessionFactory, shop: dict[str, int]
) -> None:
    async with transaction(factory) as session:
        ident = (await session.execute(select(Identity).where(Identity.external_id == "200002"))).scalar_one()
        ident.username = "igor_p"
    async with factory() as session:
        for query in ("8 (916) 123-45-67", "+7 916 123 45 67", "9161234567"):
            found = await search(session, query)
            assert [h.thread_id for h in found.customers] == [shop["Анна Смирнова"]], query
        by_name = await search(session, "смирнова")
        assert [str(h.name) for h in by_name.customers] == ["Анна <mark>Смирнова</mark>"]
        by_prefixes = await search(session, "ан смирн")  # word prefixes, any case
        assert [str(h.name) for h in by_prefixes.customers] == ["<mark>Ан</mark>на <mark>Смирн</mark>ова"]
        by_digits = await search(session, "7916123")  # the start of a phone number
        assert [h.thread_id for h in by_digits.customers] == [shop["Анна Смирнова"]]
        by_username = await search(session, "@igor_p")
        assert [h.thread_id for h in by_username.customers] == [shop["Игорь Петров"]]


async def test_message_full_text_highlight_and_anchor(factory: SessionFactory, shop: dict[str, int]) -> None:
    async with factory() as session:
        found = await search(session, "трек-номер")
    assert len(found.messages) == 1
    hit = found.messages[0]
    assert hit.thread_id == shop["Анна Смирнова"] and hit.customer_name == "Анна Смирнова"
    assert "<mark>" in str(hit.snippet) and "трек" in str(hit.snippet).lower()
    async with factory() as session:
        msg = await session.get(Message, hit.message_id)
    assert msg is not None and msg.thread_id == hit.thread_id  # the link goes to /threads/T#msg-ID


async def test_markup_in_messages_is_escaped(factory: SessionFactory, shop: dict[str, int]) -> None:
    admin = 1
    async with transaction(factory) as session:
        note, _ = await notes.add_note(session, shop["Олег"], admin, "<script>alert(1)</script> самовывоз")
    async with factory() as session:
        found = await search(session, "самовывоз")
    hit = next(h for h in found.messages if h.message_id == note.id)
    assert "<script" not in str(hit.snippet) and "<mark>" in str(hit.snippet)
    assert str(marked("<b>" + START + "x" + STOP)) == "&lt;b&gt;<mark>x</mark>"


async def test_morphology_and_prefixes(factory: SessionFactory, shop: dict[str, int], db_url: str) -> None:
    async with transaction(factory) as session:
        await notes.add_note(session, shop["Олег"], 1, "Клиент спрашивал про заказ на прошлой неделе")
    async with factory() as session:
        prefix = await search(session, "заказ")
        assert any("прошлой" in str(h.snippet) for h in prefix.messages)  # "заказ" finds "заказ", "заказы"…
        inflected = await search(session, "заказы")
    if db_url.startswith("postgresql"):  # the russian stemmer: "заказы" finds "заказ"
        assert any("прошлой" in str(h.snippet) for h in inflected.messages)


async def test_message_results_are_keyset_paginated(factory: SessionFactory, shop: dict[str, int]) -> None:
    async with transaction(factory) as session:
        for i in range(25):
            await notes.add_note(session, shop["Олег"], 1, f"доставка номер {i}")
    async with factory() as session:
        notes_ids = set(
            (await session.execute(select(Message.id).where(Message.direction == "note"))).scalars()
        )
    seen: list[int] = []
    before = None
    async with factory() as session:
        while True:
            page = await search(session, "доставка", before=before, limit=10)
            seen += [h.message_id for h in page.messages]
            if page.next_before is None:
                break
            before = page.next_before
    assert len(seen) == len(set(seen)) and seen == sorted(seen, reverse=True)
    assert len(notes_ids) == 25 and notes_ids <= set(seen)  # all 25 notes (+ a demo message), none twice


async def test_bad_query(factory: SessionFactory) -> None:
    async with factory() as session:
        with pytest.raises(BadQuery):
            await search(session, "x" * 500)
        assert (await search(session, "   ")).messages == []
        assert (await search(session, "!!!")).messages == []


async def explain(session: AsyncSession, query: object) -> str:
    compiled = query.compile(  # type: ignore[attr-defined]
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    prefix = "EXPLAIN " if is_postgres(session) else "EXPLAIN QUERY PLAN "
    if is_postgres(session):
        await session.execute(text("SET enable_seqscan = off"))  # tiny tables: ask whether an index CAN serve
    rows = (await session.execute(text(prefix + str(compiled)))).all()
    return "\n".join(" ".join(str(c) for c in r) for r in rows)


async def bulk_threads(factory: SessionFactory, n: int) -> None:
    """Enough rows that the planners' statistics look like a shop, then ANALYZE."""
    now = utcnow()
    async with transaction(factory) as session:
        start = int((await session.execute(select(func.max(Customer.id)))).scalar_one() or 0) + 1
        ids = list(range(start, start + n))
        await session.execute(
            insert(Customer),
            [
                {"id": i, "name": f"c{i}", "tags": [], "fields": {}, "created_at": now, "updated_at": now}
                for i in ids
            ],
        )
        await session.execute(
            insert(Thread),
            [
                {
                    "customer_id": i,
                    "status": "open",
                    "last_message_at": now - timedelta(minutes=i),
                    "last_preview": "",
                    "unread_count": 0,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        account = (await session.execute(select(ChannelAccount.id))).scalars().first()
        await session.execute(
            insert(Identity),
            [
                {
                    "kind": "telegram",
                    "account_id": account,
                    "external_id": f"b{i}",
                    "customer_id": i,
                    "display": f"user{i}",
                    "verified": True,
                    "blocked": False,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        threads = dict(
            (
                await session.execute(
                    select(Thread.customer_id, Thread.id).where(Thread.customer_id >= start)
                )
            ).all()
        )
        await session.execute(
            insert(Message),
            [
                {
                    "thread_id": threads[i],
                    "customer_id": i,
                    "direction": "in",
                    "author": "customer",
                    "text": f"сообщение номер {i} про доставку",
                    "meta": {},
                    "revisions": [],
                    "delivery": "none",
                    "created_at": now,
                }
                for i in ids
            ],
        )
    async with factory() as session:
        await session.execute(text("ANALYZE"))
        await session.commit()


def full_scans(plan: str, postgres: bool) -> list[str]:
    """Tables read row by row without an index."""
    if postgres:
        return re.findall(r"Seq Scan on (\w+)", plan)
    return [m for m in re.findall(r"SCAN (\w+)\b(?! USING)(?! VIRTUAL)", plan)]


async def test_explain_uses_indexes(factory: SessionFactory, shop: dict[str, int]) -> None:
    await bulk_threads(factory, 3000)
    async with factory() as session:
        postgres = is_postgres(session)
        plan = await explain(session, thread_list_query(ThreadFilter()).limit(51))
        assert "ix_thread_activity" in plan and not full_scans(plan, postgres), plan

        page = (
            select(Message)
            .where(Message.thread_id == shop["Анна Смирнова"])
            .order_by(Message.id.desc())
            .limit(100)
        )
        plan = await explain(session, page)
        assert "ix_message_thread" in plan and not full_scans(plan, postgres), plan

        found = message_query(session, "заказ", limit=21, before=None)
        plan = await explain(session, found)
        assert not full_scans(plan, postgres), plan
        if postgres:  # the match expression is the indexed one: the GIN index serves it
            count = select(func.count()).select_from(found.order_by(None).limit(None).subquery())
            plan = await explain(session, count)
            assert "ix_message_text_fts" in plan, plan
        else:
            assert "VIRTUAL TABLE INDEX" in plan and "message_fts" in plan, plan

        phone_plan = await explain(session, customer_id_queries(session, "8 (916) 123-45-67")[0])
        assert "ix_customer_phone" in phone_plan and not full_scans(phone_plan, postgres), phone_plan
        plans = [await explain(session, q) for q in customer_id_queries(session, "анна смир")]
        assert len(plans) == 2  # name / email / phone words, channel display names and usernames
        for plan in plans:
            assert not full_scans(plan, postgres), plan
        if postgres:
            assert "ix_customer_fts" in plans[0] and "ix_identity_fts" in plans[1], plans
        else:
            assert "customer_fts VIRTUAL TABLE INDEX" in plans[0].replace("SCAN ", ""), plans[0]
            assert "identity_fts VIRTUAL TABLE INDEX" in plans[1].replace("SCAN ", ""), plans[1]
