"""A namespaced key-value store with expiry on our database (table ``key_value``), shared by every process
(SQLite or PostgreSQL) with no extra service. The web layer's session store (``inbox.web.session_store``)
is this store behind Litestar's ``Store`` interface."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from inbox.db import SessionFactory, insert_for, transaction
from inbox.models import KeyValue, utcnow


class KeyValueStore:
    def __init__(self, factory: SessionFactory, namespace: str = "sessions") -> None:
        self.factory = factory
        self.namespace = namespace

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        expires = utcnow() + timedelta(seconds=seconds) if seconds else None
        async with transaction(self.factory) as session:
            stmt = insert_for(session, KeyValue).values(
                namespace=self.namespace, key=key, value=data, expires_at=expires
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["namespace", "key"], set_={"value": data, "expires_at": expires}
                )
            )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        async with self.factory() as session:
            row = await session.get(KeyValue, (self.namespace, key))
            if row is None:
                return None
            if row.expires_at is not None and row.expires_at <= utcnow():
                return None
            value = row.value
        if renew_for and row.expires_at is not None:
            await self.set(key, value, renew_for)
        return value

    async def delete(self, key: str) -> None:
        async with transaction(self.factory) as session:
            await session.execute(
                delete(KeyValue).where(KeyValue.namespace == self.namespace, KeyValue.key == key)
            )

    async def delete_all(self) -> None:
        async with transaction(self.factory) as session:
            await session.execute(delete(KeyValue).where(KeyValue.namespace == self.namespace))

    async def delete_expired(self) -> None:
        async with transaction(self.factory) as session:
            await session.execute(
                delete(KeyValue).where(KeyValue.namespace == self.namespace, KeyValue.expires_at < utcnow())
            )

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with self.factory() as session:
            row = (
                await session.execute(
                    select(KeyValue.expires_at).where(
                        KeyValue.namespace == self.namespace, KeyValue.key == key
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            return None
        expires: datetime = row
        return max(int((expires - utcnow()).total_seconds()), 0)
