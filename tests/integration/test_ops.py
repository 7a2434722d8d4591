"""Operations: Prometheus metrics after real traffic, and /readyz following PostgreSQL and Redis (reached
through a TCP proxy the test cuts, never by stopping the shared servers)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from inbox.db import SessionFactory
from inbox.migrate import upgrade
from inbox.settings import Settings
from tests import services
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.integration.test_telegram_flow import add_account, api_token, eventually
from tests.server import ServeProcess, threaded_server
from tests.tcp_proxy import TcpProxy


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


def series(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent) in a Prometheus text exposition."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit(" ", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_after_traffic(
    factory: SessionFactory, settings: Settings, emulator: TelegramEmulator
) -> None:
    await add_account(factory, emulator, "polling")
    token = await api_token(factory)
    auth = {"Authorization": f"Bearer {token}"}
    with threaded_server(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            before = (await client.get("/metrics")).text
            assert before.count("# TYPE inbox_") >= 9
            emulator.queue_update(text_update(601, "Где мой заказ?", sender=user(601, "Ольга", None)))

            async def thread_id() -> int | None:
                items = (await client.get("/api/v1/threads", headers=auth)).json()["items"]
                return int(items[0]["id"]) if items else None

            tid = await eventually(thread_id)
            emulator.fail("sendMessage", "server_error", times=1)
            posted = await client.post(
                f"/api/v1/threads/{tid}/messages", headers=auth, json={"text": "Уже в пути"}
            )
            assert posted.status_code == 201
            await emulator.wait_for_requests("sendMessage", 2, timeout=20)

            async def sent() -> str | None:
                text = (await client.get("/metrics")).text
                return (
                    text
                    if series(text, "inbox_outbound_messages_total", channel="telegram")
                    > series(before, "inbox_outbound_messages_total", channel="telegram")
                    and series(text, "inbox_outbox_depth") == 0
                    else None
                )

            after = await eventually(sent, timeout=20)
    inbound = series(after, "inbox_inbound_messages_total", channel="telegram")
    assert inbound == series(before, "inbox_inbound_messages_total", channel="telegram") + 1
    errors = series(after, "inbox_send_errors_total", channel="telegram", reason="transient")
    assert errors == series(before, "inbox_send_errors_total", channel="telegram", reason="transient") + 1
    for name in (
        "inbox_outbox_depth",
        "inbox_outbox_oldest_age_seconds",
        "inbox_ingest_lag_seconds",
        "inbox_ingest_backlog",
        "inbox_sse_clients",
    ):
        assert re.search(rf"^{name} ", after, re.M), name
    assert series(after, "inbox_outbox_depth") == 0  # the backlog drained
    route = "/api/v1/threads/{thread_id}/messages"
    assert (
        series(after, "inbox_http_request_duration_seconds_count", method="POST", route=route, status="201")
        >= 1
    )


async def test_metrics_refused_outside_the_allowed_addresses(settings: Settings) -> None:
    with threaded_server(settings.with_(metrics_allow=("10.9.8.7/32",)), run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answer = await client.get("/metrics")
            assert answer.status_code == 403
            assert "inbox_" not in answer.text


async def _ready(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/readyz")


async def wait_status(client: httpx.AsyncClient, status: int, timeout: float = 30) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    last: httpx.Response | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await client.get("/readyz")
            if last.status_code == status:
                return dict(last.json())
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never answered {status}: {last and last.text}")


async def test_readyz_follows_postgresql_and_redis(tmp_path: Path) -> None:
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    probe = Redis.from_url(services.REDIS_URL)
    try:
        await probe.ping()
    except Exception:
        services.missing(f"Redis at {services.REDIS_URL}")
    finally:
        await probe.aclose()
    url = await asyncio.to_thread(services.create_pg_database)
    pg = await TcpProxy("127.0.0.1", 5432).start()
    redis = await TcpProxy("127.0.0.1", 6379).start()
    server: ServeProcess | None = None
    try:
        await asyncio.to_thread(upgrade, url)
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{pg.port}")
        env = {
            "INBOX_DATABASE_URL": proxied,
            "INBOX_REDIS_URL": f"redis://127.0.0.1:{redis.port}/15",
            "INBOX_DATA_DIR": str(tmp_path / "data"),
            "INBOX_SECRET_KEY": "readyz-secret-0123456789",
        }
        server = ServeProcess(env, tmp_path)
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            ok = await wait_status(client, 200)
            assert ok["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}

            await pg.cut()
            down = await wait_status(client, 503)
            assert down["checks"]["database"] != "ok"  # type: ignore[index]
            await pg.restore()
            await wait_status(client, 200)

            await redis.cut()
            down = await wait_status(client, 503)
            assert down["checks"]["redis"] != "ok"  # type: ignore[index]
            assert down["checks"]["database"] == "ok"  # type: ignore[index]
            await redis.restore()
            await wait_status(client, 200)
            assert (await client.get("/healthz")).status_code == 200  # alive all along
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await pg.close()
        await redis.close()
        await asyncio.to_thread(services.drop_pg_database, url)


async def test_readyz_wants_live_workers(settings: Settings) -> None:
    with threaded_server(settings, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert answer.json()["checks"]["workers"].startswith("no live worker")
            assert answer.json()["checks"]["database"] == "ok"
