"""Sign-in throttling, shared by every process through the database: too many failures for one account
(5 in 15 minutes) or from one client address (20 in a minute) lock further attempts for a delay that doubles
with every new lock (up to an hour), until a quiet hour or a successful sign-in for the account."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from inbox.db import SessionFactory, insert_for, is_postgres, transaction
from inbox.models import KeyValue, utcnow

NAMESPACE = "login-throttle"
MEMORY = 3600.0  # a quiet hour forgets earlier locks


@dataclass(frozen=True, slots=True)
class Limit:
    prefix: str
    failures: int
    window: float
    first_delay: float = 60.0
    max_delay: float = 3600.0


ACCOUNT = Limit("account", failures=5, window=15 * 60)
CLIENT = Limit("ip", failures=20, window=60)


def _key(limit: Limit, subject: str) -> str:
    return f"{limit.prefix}:{hashlib.sha256(subject.encode('utf-8', 'replace')).hexdigest()}"


@dataclass
class LoginThrottle:
    factory: SessionFactory
    clock: Callable[[], float] = field(default=time.time)

    async def retry_after(self, subjects: list[tuple[Limit, str]]) -> int:
        """Seconds until these subjects may try again (0: now)."""
        keys = [_key(limit, subject) for limit, subject in subjects]
        async with self.factory() as session:
            rows = (
                await session.execute(
                    select(KeyValue.value).where(KeyValue.namespace == NAMESPACE, KeyValue.key.in_(keys))
                )
            ).scalars()
            until = max((float(json.loads(v).get("until", 0)) for v in rows), default=0.0)
        return max(0, math.ceil(until - self.clock()))

    async def failed(self, subjects: list[tuple[Limit, str]]) -> int:
        """Count a failure; returns the lock it caused, in seconds (0: none)."""
        locked = 0
        for limit, subject in subjects:
            locked = max(locked, await self._fail(limit, _key(limit, subject)))
        return locked

    async def _fail(self, limit: Limit, key: str) -> int:
        now = self.clock()
        async with transaction(self.factory) as session:
            await session.execute(
                insert_for(session, KeyValue)
                .values(namespace=NAMESPACE, key=key, value=b"{}", expires_at=None)
                .on_conflict_do_nothing(index_elements=["namespace", "key"])
            )
            query = select(KeyValue).where(KeyValue.namespace == NAMESPACE, KeyValue.key == key)
            if is_postgres(session):
                query = query.with_for_update()
            row = (await session.execute(query)).scalar_one()
            state: dict[str, Any] = json.loads(row.value or b"{}")
            if float(state.get("seen", 0)) < now - MEMORY:
                state = {}
            fails = [t for t in state.get("fails", []) if t > now - limit.window] + [now]
            strikes = int(state.get("strikes", 0))
            delay = 0.0
            if len(fails) >= limit.failures:
                strikes += 1
                delay = min(limit.max_delay, limit.first_delay * 2 ** (strikes - 1))
                state["until"] = now + delay
            state.update(fails=fails, strikes=strikes, seen=now)
            row.value = json.dumps(state).encode()
            row.expires_at = utcnow() + timedelta(seconds=MEMORY + delay)
        return math.ceil(delay)

    async def succeeded(self, limit: Limit, subject: str) -> None:
        async with transaction(self.factory) as session:
            await session.execute(
                delete(KeyValue).where(KeyValue.namespace == NAMESPACE, KeyValue.key == _key(limit, subject))
            )
