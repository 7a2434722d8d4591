"""Several processes on PostgreSQL + Redis: live updates cross processes through Redis, and a poller is a
cluster-wide singleton (PostgreSQL advisory lock)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from inbox.core.events import EventBus
from inbox.db import make_engine, make_session_factory
from inbox.settings import Settings
from inbox.workers import Workers
from tests import services
from tests.server import ServeProcess, cli


@pytest.fixture
async def redis_url() -> str:
    client = Redis.from_url(services.REDIS_URL)
    try:
        await client.ping()
    except Exception:
        services.missing(f"Redis at {services.REDIS_URL}")
    finally:
        await client.aclose()
    return services.REDIS_URL


async def login(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/login")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    done = await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})
    assert done.status_code in (302, 303), done.text


async def test_live_update_crosses_processes_through_redis(
    private_pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "INBOX_DATABASE_URL": private_pg_url,
        "INBOX_REDIS_URL": redis_url,
        "INBOX_DATA_DIR": str(tmp_path / "d"),
        "INBOX_SECRET_KEY": "scale-out-secret-0123456789",
    }
    assert cli(env, tmp_path, "db", "upgrade").returncode == 0
    seeded = cli(env, tmp_path, "demo")
    assert seeded.returncode == 0, seeded.stderr
    token = cli(env, tmp_path, "token", "create", "--name", "scale").stdout.strip().splitlines()[-1]
    a = ServeProcess(env, tmp_path).start()
    b = ServeProcess(env, tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=b.url, timeout=20, follow_redirects=False) as browser:
            await login(browser, "admin@shop.example", "inbox-demo")  # the session lives in the database
            async with browser.stream("GET", "/events") as stream:
                lines = stream.aiter_lines()

                async def next_event() -> dict[str, object]:
                    async for line in lines:
                        if line.startswith("data:") and line[5:].strip() not in ("", "{}"):
                            return dict(json.loads(line[5:]))
                    raise AssertionError("stream ended")

                await asyncio.sleep(0.5)  # let B subscribe before A publishes
                async with httpx.AsyncClient(base_url=a.url, timeout=20) as api:
                    auth = {"Authorization": f"Bearer {token}"}
                    items = (await api.get("/api/v1/threads", headers=auth)).json()["items"]
                    thread = next(t for t in items if t["customer_name"] == "Анна Смирнова")
                    posted = await api.post(
                        f"/api/v1/threads/{thread['id']}/messages",
                        headers=auth,
                        json={"text": "Ответ из процесса A"},
                    )
                    if posted.status_code != 201:  # say what the customer looked like
                        card = await api.get(f"/api/v1/customers/{thread['customer_id']}", headers=auth)
                        all_threads = (await api.get("/api/v1/threads", headers=auth)).json()
                        raise AssertionError(f"{posted.text}\n{card.text}\n{all_threads}")
                event = await asyncio.wait_for(next_event(), timeout=15)
                assert event["thread_id"] == thread["id"]
                assert event["type"] in {"message.new", "thread.updated", "message.updated"}
    finally:
        a.stop()
        b.stop()


async def test_one_poller_per_account_across_processes(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=pg_url, redis_url=None, secret_key="x" * 20, data_dir=tmp_path)
    engines = [make_engine(pg_url), make_engine(pg_url)]
    try:
        first, second = (
            Workers(engine=e, factory=make_session_factory(e), settings=settings, bus=EventBus())
            for e in engines
        )
        async with first._singleton(4242) as mine_a:
            async with second._singleton(4242) as mine_b:
                assert mine_a is True and mine_b is False
            async with second._singleton(4343) as other:
                assert other is True  # another account is free
        async with second._singleton(4242) as mine_b:
            assert mine_b is True  # released when the first process let go
    finally:
        for e in engines:
            await e.dispose()
