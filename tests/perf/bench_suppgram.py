"""Against a Telegram support peer: the same N Telegram text updates (10,000 by default, from 500 customers)
taken in and stored as messages by us and by suppgram (PyPI ``suppgram`` 0.0.13, a support bot on
python-telegram-bot and SQLAlchemy), in the same run, on SQLite and on PostgreSQL.

  (a) ours: ``inbox serve`` (bot off) with its Telegram account in webhook mode; ``wrk -c32`` posts the
      updates to the webhook (``lua/telegram_update.lua`` with ``BENCH_TOTAL``; wrk is stopped once every
      update's raw event is committed); the clock runs from the first request until the last update is a
      stored message (every raw event processed);
  (b) suppgram: the updates wait in the Telegram emulator (tests/emulators/telegram.py); suppgram's
      Telegram customer frontend, its Bot API address pointed at the emulator, polls them
      (``getUpdates``, its only mode) and the clock runs from the start of polling until its storage holds
      N customer messages (``tests/perf/suppgram_runner.py``).

suppgram is never a dependency of ``inbox``: it pins older libraries. The benchmark installs it on demand
into its own virtualenv (default ``~/.cache/inbox-bench/suppgram-venv``, ``--suppgram-venv``), with
``pip install 'suppgram[telegram,sqlalchemy]==0.0.13'``; when that fails, (b) is left out with the reason.

    python -m tests.perf.bench_suppgram [--updates 10000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.models import InboundEvent, Message
from tests import services
from tests.emulators.telegram import TelegramEmulator
from tests.perf.bench_ingest import SCRIPT, drained, serve_env, spawn, stop, webhook_bot
from tests.perf.peer_venv import peer_python
from tests.perf.table import Row
from tests.perf.wrk import run_wrk_until
from tests.server import wait_http

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = Path.home() / ".cache" / "inbox-bench" / "suppgram-venv"
SUPPGRAM = "suppgram[telegram,sqlalchemy]==0.0.13"
PEER_TOKEN = "987654321:BENCH-suppgram-customer-bot"
SECRET = "bench-secret"
CUSTOMERS = 500
CONNECTIONS = 32
STALLED_S = 30.0  # no new raw event for this long while wrk runs: some webhooks failed for good


def update(n: int, customers: int = CUSTOMERS) -> dict[str, Any]:
    """The n-th update exactly as ``lua/telegram_update.lua`` writes it (offset 0)."""
    uid = 100000 + n % customers
    person = {"first_name": "Покупатель", "last_name": str(uid)}
    return {
        "update_id": 10000000 + n,
        "message": {
            "message_id": n,
            "date": int(time.time()),
            "from": {"id": uid, "is_bot": False, **person, "language_code": "ru"},
            "chat": {"id": uid, "type": "private", **person},
            "text": f"Сообщение номер {n}: где мой заказ?",
        },
    }


async def ours(db_url: str, work: Path, emulator: TelegramEmulator, n: int) -> float:
    """Seconds from the first webhook until the n-th update is a stored message."""
    await asyncio.to_thread(upgrade, db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    port = services.free_port()
    account_id = await webhook_bot(factory, emulator.base_url, f"http://127.0.0.1:{port}")
    env = serve_env(db_url, work, bots=False)
    proc = spawn([sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)], env, work)
    hook = f"http://127.0.0.1:{port}/webhooks/telegram/{account_id}"
    wrk_env = {
        "BENCH_OFFSET": "0",
        "BENCH_SECRET": SECRET,
        "BENCH_CUSTOMERS": str(CUSTOMERS),
        "BENCH_TOTAL": str(n),
        "BENCH_CONNECTIONS": str(CONNECTIONS),
    }
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60)
        acknowledged = threading.Event()
        started = time.perf_counter()
        load = asyncio.create_task(
            asyncio.to_thread(
                run_wrk_until, hook, SCRIPT, acknowledged.is_set, connections=CONNECTIONS, env=wrk_env
            )
        )
        seen, since = -1, time.monotonic()
        while not load.done():  # every update's raw event committed: stop wrk (it redelivers the last)
            async with factory() as session:
                count = (await session.execute(select(func.count()).select_from(InboundEvent))).scalar_one()
            if count >= n:
                acknowledged.set()
                break
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since > STALLED_S:  # wrk does not redeliver a failed update
                acknowledged.set()
                result = await load
                raise RuntimeError(f"ours: {count} of {n} updates stored, {result.errors} webhooks failed")
            await asyncio.sleep(0.05)
        result = await load
        acked_s = time.perf_counter() - started
        if result.errors:
            raise RuntimeError(f"ours: {result.errors} of {result.requests} webhooks failed")
        await drained(factory)
        seconds = time.perf_counter() - started
        print(
            f"  ours: every update acknowledged after {acked_s:.2f}s ({result.requests} requests sent), "
            f"the backlog drained {seconds - acked_s:.2f}s later",
            flush=True,
        )
        async with factory() as session:
            stored = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
        if stored != n:
            raise RuntimeError(f"ours: {stored} messages stored of {n} updates")
        print(f"  ours: {n} updates -> {stored} messages in {seconds:.2f}s", flush=True)
        return seconds
    finally:
        stop(proc)
        await engine.dispose()


def suppgram_python(venv: Path) -> tuple[Path | None, str]:
    """The venv's interpreter with suppgram importable (installing it on demand), or a reason."""
    return peer_python(
        venv, SUPPGRAM, "suppgram.builder, telegram.ext, sqlalchemy, aiosqlite, asyncpg", "suppgram"
    )


async def peer(python: Path, emulator: TelegramEmulator, db_url: str, n: int) -> float:
    """Seconds suppgram takes from the start of polling to n stored messages, the updates queued."""
    bot = emulator.bot(PEER_TOKEN)
    bot.updates = [update(i) for i in range(1, n + 1)]
    bot.next_update_id = 10000000 + n + 1
    proc = await asyncio.create_subprocess_exec(
        str(python),
        str(HERE / "suppgram_runner.py"),
        emulator.base_url,
        PEER_TOKEN,
        db_url,
        str(n),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 3600)
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"suppgram runner failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    if int(result["messages"]) < n:
        raise RuntimeError(f"suppgram stored {int(result['messages'])} of {n} messages")
    print(
        f"  suppgram: {n} updates -> {int(result['messages'])} messages in "
        f"{int(result['conversations'])} conversations, {result['seconds']:.2f}s",
        flush=True,
    )
    return result["seconds"]


def run(
    n: int, work: Path, venv: Path = DEFAULT_VENV, *, only: str | None = None, peer_too: bool = True
) -> list[Row]:
    targets: list[tuple[str, str, str]] = []
    if only in (None, "sqlite"):
        targets.append(
            (
                "SQLite",
                f"sqlite+aiosqlite:///{work / 'ours.sqlite3'}",
                f"sqlite+aiosqlite:///{work / 'sg.sqlite3'}",
            )
        )
    if only in (None, "postgresql") and services.pg_available():
        targets.append(("PostgreSQL", services.create_pg_database(), services.create_pg_database()))
    python, reason = suppgram_python(venv) if peer_too else (None, "not asked for")
    try:
        return asyncio.run(_run(targets, n, work, python, reason))
    finally:
        for _label, a, b in targets:
            for url in (a, b):
                if url.startswith("postgresql"):
                    services.drop_pg_database(url)


async def _run(
    targets: list[tuple[str, str, str]], n: int, work: Path, python: Path | None, reason: str
) -> list[Row]:
    emulator = TelegramEmulator()
    await emulator.start()
    rows = []
    try:
        for label, ours_url, peer_db in targets:
            rate = n / await ours(ours_url, work, emulator, n)
            base: float | None = None
            base_label = f"suppgram skipped: {reason[:80]}"
            if python is not None:
                base = n / await peer(python, emulator, peer_db, n)
                base_label = "suppgram 0.0.13 (polling)"
            rows.append(
                Row(
                    f"vs suppgram ({n:,} Telegram updates)",
                    label,
                    "stored",
                    rate,
                    "msg/s",
                    base,
                    base_label,
                    ">= 3x",
                )
            )
    finally:
        await emulator.stop()
    return rows


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-suppgram", action="store_true")
    parser.add_argument("--suppgram-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    if args.updates < 1:
        parser.error("--updates must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-suppgram-") as tmp:
        rows = run(args.updates, Path(tmp), args.suppgram_venv, only=args.only, peer_too=not args.no_suppgram)
    print(render_text(rows))


if __name__ == "__main__":
    main()
