"""The cluster mode: `inbox serve --processes N`, `inbox worker --only …`, a poller taken over when its
holder is killed, and an SSE stream that catches up from the database after a reconnect."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from inbox.db import SessionFactory, make_engine, make_session_factory
from inbox.demo import seed
from inbox.models import Message
from inbox.settings import Settings
from inbox.workers import LOCK_NAMESPACE
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, text_update
from tests.integration.test_scale_out import login
from tests.integration.test_scale_out import redis_url as redis_url  # a fixture
from tests.integration.test_telegram_flow import api_token, eventually
from tests.server import ServeProcess, cli, wait_http


def test_sqlite_refuses_several_processes(tmp_path: Path) -> None:
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'i.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path),
    }
    done = cli(env, tmp_path, "serve", "--processes", "3")
    assert done.returncode == 2
    assert "--processes N needs PostgreSQL" in done.stderr
    wrong = cli(env, tmp_path, "worker", "--only", "everything")
    assert wrong.returncode == 2 and "everything" in wrong.stderr


def start_worker(env: dict[str, str], cwd: Path, *roles: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "inbox.cli", "worker"]
    for role in roles:
        args += ["--only", role]
    log = (cwd / f"worker-{len(list(cwd.glob('worker-*.log')))}.log").open("wb")
    return subprocess.Popen(args, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def children(parent: int, marker: str) -> set[int]:
    """Child processes of ``parent`` whose command line contains ``marker``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), 0)
        if ppid == parent and marker in cmdline:
            found.add(int(entry.name))
    return found


def spawn_group(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """A process in its own group, so that the test can stop it with all its children."""
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


async def test_poller_taken_over_when_its_holder_dies(
    pg_url: str, tmp_path: Path, emulator: TelegramEmulator
) -> None:
    env = {
        "INBOX_DATABASE_URL": pg_url,
        "INBOX_DATA_DIR": str(tmp_path / "d"),
        "INBOX_SECRET_KEY": "cluster-secret-0123456789",
    }
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    from tests.conftest import reset_tables

    await reset_tables(engine)
    added = await asyncio.to_thread(
        cli,
        env,
        tmp_path,
        "channel",
        "add",
        "telegram",
        "--name",
        "shop",
        "--token",
        DEFAULT_TOKEN,
        "--api-base",
        emulator.base_url,
    )
    assert added.returncode == 0, added.stderr
    account_id = int(added.stdout.split("telegram account ")[1].split()[0])

    async def holders() -> int:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND classid = :ns AND objid = :id "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                        ),
                        {"ns": LOCK_NAMESPACE, "id": account_id},
                    )
                ).scalar_one()
            )

    first = start_worker(env, tmp_path, "pollers")
    second: subprocess.Popen[bytes] | None = None
    try:
        await emulator.wait_for_requests("getUpdates", 1, timeout=30)
        second = start_worker(env, tmp_path, "pollers", "dispatch")
        await asyncio.sleep(3)  # the second worker tries for the lock and waits
        assert await holders() == 1  # one poller for the account in the whole cluster
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        emulator.queue_update(text_update(777, "После падения"))

        async def ingested() -> bool:
            async with factory() as session:
                return bool(
                    (
                        await session.execute(
                            select(func.count()).select_from(Message).where(Message.text == "После падения")
                        )
                    ).scalar_one()
                )

        await eventually(ingested, timeout=20)  # the second worker took the poller over
        assert await holders() == 1
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 10)
        await engine.dispose()


async def test_serve_processes_on_postgresql(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    env = {
        "INBOX_DATABASE_URL": pg_url,
        "INBOX_REDIS_URL": redis_url,
        "INBOX_DATA_DIR": str(tmp_path / "d"),
        "INBOX_SECRET_KEY": "cluster-secret-0123456789",
    }
    server = ServeProcess(env, tmp_path)
    proc = spawn_group(
        [sys.executable, "-m", "inbox.cli", "serve", "--port", str(server.port), "--processes", "2"],
        env,
        tmp_path,
        server.log,
    )
    try:
        await asyncio.to_thread(wait_http, server.url + "/healthz", 60)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=30)  # the worker child beats for every role
            web = children(proc.pid, "spawn_main")  # uvicorn's web processes
            assert len(web) == 2, web
            assert len(children(proc.pid, "worker")) == 1  # the channel workers beside them
            for _ in range(10):
                answer = await client.get("/healthz", headers={"Connection": "close"})
                assert answer.status_code == 200 and int(answer.headers["x-inbox-pid"]) in web
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)


async def _stream_events(
    client: httpx.AsyncClient, headers: dict[str, str], until: int
) -> list[tuple[str | None, dict[str, object]]]:
    """Read SSE events (id, data) until ``until`` inbox events arrived (hello included as the first)."""
    out: list[tuple[str | None, dict[str, object]]] = []
    event_id: str | None = None
    async with client.stream("GET", "/events", headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                out.append((event_id, json.loads(line[5:].strip() or "{}")))
                if len(out) >= until:
                    break
    return out


async def test_reconnect_with_last_event_id_catches_up(factory: SessionFactory, settings: Settings) -> None:
    await seed(factory)
    token = await api_token(factory)
    from tests.server import threaded_server

    with threaded_server(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            await login(client, "admin@shop.example", "inbox-demo")
            first = await asyncio.wait_for(_stream_events(client, {}, 1), 15)
            cursor = first[0][0]
            assert cursor is not None and cursor.isdigit()
            auth = {"Authorization": f"Bearer {token}"}
            thread = (await client.get("/api/v1/threads", headers=auth)).json()["items"][0]
            sent = []
            for n in range(3):  # while the browser is away
                posted = await client.post(
                    f"/api/v1/threads/{thread['id']}/messages",
                    headers=auth,
                    json={"text": f"пока вас не было {n}"},
                )
                assert posted.status_code == 201, posted.text
                sent.append(posted.json()["id"])
            again = await asyncio.wait_for(_stream_events(client, {"Last-Event-ID": cursor}, 4), 15)
    replayed = [(eid, data) for eid, data in again[1:]]
    assert [data["message_id"] for _, data in replayed] == sent
    assert [eid for eid, _ in replayed] == [str(i) for i in sent]
    assert all(data["type"] == "message.new" and data["thread_id"] == thread["id"] for _, data in replayed)
