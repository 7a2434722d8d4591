"""Readiness (``/readyz``): the database answers, Redis answers when configured, and every worker role
(dispatch, pollers, scheduler) has a live heartbeat somewhere in the cluster.

Workers write a heartbeat row (``kv_store`` namespace ``heartbeat``, one key per process) every
``HEARTBEAT_EVERY`` seconds that expires after ``HEARTBEAT_TTL``: a killed worker stops counting within that.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from inbox.core.kvstore import KeyValueStore
from inbox.db import SessionFactory
from inbox.models import KeyValue
from inbox.models.base import utcnow

ROLES = ("dispatch", "pollers", "scheduler")
HEARTBEAT_NAMESPACE = "heartbeat"
HEARTBEAT_EVERY = 5.0
HEARTBEAT_TTL = 20
CHECK_TIMEOUT = 3.0


def process_key() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def beat(factory: SessionFactory, roles: frozenset[str]) -> None:
    value = json.dumps({"roles": sorted(roles), "pid": os.getpid(), "host": socket.gethostname()})
    await KeyValueStore(factory, HEARTBEAT_NAMESPACE).set(process_key(), value, expires_in=HEARTBEAT_TTL)


async def forget(factory: SessionFactory) -> None:
    await KeyValueStore(factory, HEARTBEAT_NAMESPACE).delete(process_key())


async def live_roles(factory: SessionFactory) -> dict[str, int]:
    """Role -> number of processes with a fresh heartbeat for it."""
    now = utcnow()
    async with factory() as session:
        rows = (
            await session.execute(
                select(KeyValue.value, KeyValue.expires_at).where(KeyValue.namespace == HEARTBEAT_NAMESPACE)
            )
        ).all()
    counts = dict.fromkeys(ROLES, 0)
    for value, expires_at in rows:
        if expires_at is not None:
            at = expires_at if expires_at.tzinfo is not None else expires_at.replace(tzinfo=now.tzinfo)
            if at <= now:
                continue
        try:
            roles = json.loads(bytes(value).decode())["roles"]
        except (ValueError, KeyError, TypeError):
            continue
        for role in roles:
            if role in counts:
                counts[role] += 1
    return counts


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the reason

    @property
    def ready(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


async def _database(factory: SessionFactory) -> str:
    async with factory() as session:
        await session.execute(text("SELECT 1"))
    return "ok"


async def _redis(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


async def check(factory: SessionFactory, redis_url: str | None) -> Readiness:
    result = Readiness()

    async def run(name: str, coro: Coroutine[Any, Any, str]) -> None:
        try:
            result.checks[name] = await asyncio.wait_for(coro, CHECK_TIMEOUT)
        except Exception as exc:
            result.checks[name] = f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__

    await run("database", _database(factory))
    if redis_url:
        await run("redis", _redis(redis_url))
    if result.checks["database"] == "ok":
        try:
            roles = await asyncio.wait_for(live_roles(factory), CHECK_TIMEOUT)
        except Exception as exc:
            result.checks["workers"] = type(exc).__name__
        else:
            missing = [r for r in ROLES if not roles[r]]
            result.checks["workers"] = "ok" if not missing else "no live worker for " + ", ".join(missing)
    else:
        result.checks["workers"] = "unknown: the database does not answer"
    return result
