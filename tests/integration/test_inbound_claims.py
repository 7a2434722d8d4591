"""Inbound claims on PostgreSQL across processors: one chat's events go to one processor at a time, in id
order; other chats of the same account (all the customers of one Telegram bot) go to another processor at
the same time; an event whose chat is unknown keeps account order; a dead processor's lease replays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from inbox.core.events import EventBus
from inbox.core.ingest import InboundProcessor, store_raw
from inbox.core.types import RawEvent
from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.models import ChannelAccount, InboundEvent, utcnow
from inbox.settings import Settings
from tests.conftest import reset_tables


@pytest.fixture
async def pg_factory(pg_url: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(pg_url)
    await reset_tables(engine)
    yield make_session_factory(engine)
    await engine.dispose()


def processor(factory: SessionFactory, pg_url: str, tmp_path: Path) -> InboundProcessor:
    settings = Settings(database_url=pg_url, redis_url=None, secret_key="k" * 32, data_dir=tmp_path)
    return InboundProcessor(factory, None, EventBus(), settings)  # type: ignore[arg-type] - claims only


async def account(factory: SessionFactory) -> int:
    async with transaction(factory) as session:
        row = ChannelAccount(kind="telegram", name="bot", settings={}, secrets={}, state={})
        session.add(row)
        await session.flush()
        return row.id


def keys(rows: list[InboundEvent]) -> list[str]:
    return [r.key for r in rows]


async def test_chats_of_one_account_are_claimed_apart_in_order(
    pg_factory: SessionFactory, pg_url: str, tmp_path: Path
) -> None:
    acc = await account(pg_factory)
    await store_raw(
        pg_factory,
        acc,
        [
            RawEvent("x1", {}, chat="x"),
            RawEvent("x2", {}, chat="x"),
            RawEvent("y1", {}, chat="y"),
            RawEvent("x3", {}, chat="x"),
            RawEvent("y2", {}, chat="y"),
        ],
    )
    a, b = processor(pg_factory, pg_url, tmp_path), processor(pg_factory, pg_url, tmp_path)
    assert keys(await a.claim(1)) == ["x1"]
    # x2 and x3 wait for x1 (leased to a); chat y is free.
    assert keys(await b.claim(50)) == ["y1", "y2"]
    assert await a.claim(50) == []  # y is leased to b now, x1 to a: nothing else is due
    async with transaction(pg_factory) as session:  # a applied x1
        await session.execute(
            update(InboundEvent).where(InboundEvent.key == "x1").values(processed_at=utcnow())
        )
    assert keys(await b.claim(50)) == ["x2", "x3"]


async def test_an_event_of_unknown_chat_keeps_account_order(
    pg_factory: SessionFactory, pg_url: str, tmp_path: Path
) -> None:
    acc = await account(pg_factory)
    await store_raw(
        pg_factory,
        acc,
        [
            RawEvent("x1", {}, chat="x"),
            RawEvent("n1", {}),  # a chat the channel does not name: after everything earlier
            RawEvent("y1", {}, chat="y"),
            RawEvent("n2", {}),
        ],
    )
    a, b = processor(pg_factory, pg_url, tmp_path), processor(pg_factory, pg_url, tmp_path)
    assert keys(await a.claim(1)) == ["x1"]
    assert keys(await b.claim(50)) == ["y1"]  # n1 and n2 wait for x1
    async with transaction(pg_factory) as session:
        await session.execute(
            update(InboundEvent).where(InboundEvent.key == "x1").values(processed_at=utcnow())
        )
    assert keys(await a.claim(50)) == ["n1"]  # n2 waits for y1, leased to b
    async with transaction(pg_factory) as session:
        await session.execute(
            update(InboundEvent).where(InboundEvent.key == "y1").values(processed_at=utcnow())
        )
    assert await a.claim(50) == []  # n2 waits for n1 too
    async with transaction(pg_factory) as session:
        await session.execute(
            update(InboundEvent).where(InboundEvent.key == "n1").values(processed_at=utcnow())
        )
    assert keys(await a.claim(50)) == ["n2"]


async def test_a_dead_processors_lease_replays_in_order(
    pg_factory: SessionFactory, pg_url: str, tmp_path: Path
) -> None:
    acc = await account(pg_factory)
    await store_raw(pg_factory, acc, [RawEvent("x1", {}, chat="x"), RawEvent("x2", {}, chat="x")])
    a, b = processor(pg_factory, pg_url, tmp_path), processor(pg_factory, pg_url, tmp_path)
    assert keys(await a.claim(1)) == ["x1"]
    assert await b.claim(50) == []
    async with transaction(pg_factory) as session:  # a died: its lease ran out
        await session.execute(
            update(InboundEvent).where(InboundEvent.key == "x1").values(next_attempt_at=utcnow())
        )
    assert keys(await b.claim(50)) == ["x1", "x2"]
