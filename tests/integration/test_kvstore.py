"""Web sessions in the database: read back, expire, and expired ones swept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from inbox.db import SessionFactory, transaction
from inbox.models import KeyValue, utcnow
from inbox.web.session_store import DatabaseStore


async def test_sessions_expire_and_are_swept(factory: SessionFactory) -> None:
    store = DatabaseStore(factory, "sessions")
    other = DatabaseStore(factory, "other")
    await store.set("live", b"a", expires_in=3600)
    await store.set("old", "b", expires_in=3600)
    await other.set("old", b"c", expires_in=3600)
    assert await store.get("live") == b"a" and await store.get("old") == b"b"
    async with transaction(factory) as session:  # as if an hour had passed for "old"
        await session.execute(
            update(KeyValue).where(KeyValue.key == "old").values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await store.get("old") is None and not await store.exists("old")
    await store.delete_expired()
    async with factory() as session:
        keys = sorted(
            (ns, k) for ns, k in (await session.execute(select(KeyValue.namespace, KeyValue.key))).all()
        )
        total = (await session.execute(select(func.count()).select_from(KeyValue))).scalar_one()
    assert keys == [("other", "old"), ("sessions", "live")] and total == 2  # other namespaces untouched
    assert 0 < (await store.expires_in("live") or 0) <= 3600
    await store.delete("live")
    assert await store.get("live") is None
