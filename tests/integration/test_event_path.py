"""One event path, on SQLite and PostgreSQL: events queued on the session are published only after the
transaction commits; a rolled-back transaction or savepoint drops its own events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox.core.events import Event, EventBus, emit, stock_changed
from inbox.db import SessionFactory
from inbox.models import Label


class Boom(Exception):
    pass


def recording_bus(factory: SessionFactory) -> tuple[EventBus, list[tuple[str, bool]]]:
    """A bus whose listener notes each event and whether the row it names is visible to another session."""
    bus = EventBus()
    seen: list[tuple[str, bool]] = []

    async def listener(event: Event) -> None:
        async with factory() as other:
            found = (await other.execute(select(Label).where(Label.name == event.type))).first()
        seen.append((event.type, found is not None))

    bus.subscribe(listener)
    return bus, seen


async def test_published_after_commit_and_dropped_on_rollback(factory: SessionFactory) -> None:
    bus, seen = recording_bus(factory)
    async with bus.transaction(factory) as session:
        session.add(Label(name="first"))
        await session.flush()
        emit(session, Event("first"))
        assert seen == []  # not before the commit
    assert seen == [("first", True)]  # the listener sees the committed row

    with pytest.raises(Boom):
        async with bus.transaction(factory) as session:
            session.add(Label(name="second"))
            emit(session, Event("second"))
            raise Boom
    assert seen == [("first", True)]  # nothing of a rolled-back transaction


async def test_a_rolled_back_savepoint_drops_only_its_own_events(factory: SessionFactory) -> None:
    bus, seen = recording_bus(factory)
    async with bus.transaction(factory) as session:
        session.add(Label(name="kept"))
        emit(session, Event("kept"))
        try:
            async with session.begin_nested():
                session.add(Label(name="undone"))
                emit(session, Event("undone"))
                raise Boom
        except Boom:
            pass
        async with session.begin_nested():
            session.add(Label(name="released"))
            emit(session, Event("released"))
        stock_changed(session, 2, 1)
        stock_changed(session, 3)
    assert seen == [("kept", True), ("released", True), ("stock.changed", False)]


async def test_code_that_commits_by_itself_flushes_after_each_commit(factory: SessionFactory) -> None:
    bus, seen = recording_bus(factory)
    async with factory() as session:
        session.add(Label(name="one"))
        emit(session, Event("one"))
        await session.commit()
        emit(session, Event("two"))
        await session.rollback()
        await bus.flush(session)
    assert seen == [("one", True)]
