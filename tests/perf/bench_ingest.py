"""Ingest benchmark (issue 2): in one run and under the same load generator, on SQLite and PostgreSQL,
  (a) a bare Litestar endpoint doing one INSERT per request (the baseline), and
  (b) our Telegram webhook ingest end to end: secret check, raw event committed before the 200, then the
      processor turns it into customer / identity / thread / message rows.
Prints msgs/s for each and the ratio b/a.  Run: python -m tests.perf.bench_ingest [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from inbox.db import make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ChannelAccount, Message
from tests import services
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, text_update
from tests.perf.loadgen import post_many
from tests.server import wait_http

SECRET = "bench-secret"


ROOT = Path(__file__).resolve().parents[2]


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def update_body(i: int) -> bytes:
    upd = text_update(100_000 + i % 500, f"Сообщение номер {i}: где мой заказ?", message_id=i + 1)
    return json.dumps({"update_id": 10_000_000 + i, **upd}, ensure_ascii=False).encode()


async def baseline(url: str, n: int, workdir: Path) -> float:
    port = services.free_port()
    proc = spawn([sys.executable, "-m", "tests.perf.bare_app", "--db", url, "--port", str(port)], {}, workdir)
    try:
        wait_http(f"http://127.0.0.1:{port}/ingest", timeout=30)
        await post_many(f"http://127.0.0.1:{port}/ingest", 200, update_body)  # warm-up
        result = await post_many(f"http://127.0.0.1:{port}/ingest", n, lambda i: update_body(i + 1_000_000))
        assert result.errors == 0, result.statuses
        return result.rps
    finally:
        proc.terminate()
        proc.wait(10)


async def ours(url: str, n: int, workdir: Path, emulator: TelegramEmulator) -> tuple[float, float]:
    """Returns (acknowledged/s, fully processed msgs/s)."""
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    port = services.free_port()
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="telegram",
            name="bench",
            state={},
            settings={
                "mode": "webhook",
                "api_base": emulator.base_url,
                "public_url": f"http://127.0.0.1:{port}",
            },
            secrets={"token": DEFAULT_TOKEN, "webhook_secret": SECRET},
        )
        session.add(row)
        await session.flush()
        account_id = row.id
    env = {
        "INBOX_DATABASE_URL": url,
        "INBOX_DATA_DIR": str(workdir / "data"),
        "INBOX_SECRET_KEY": "bench-secret-key-0123456789",
        "INBOX_BOTS": "off",
    }
    proc = spawn([sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)], env, workdir)
    hook = f"http://127.0.0.1:{port}/webhooks/telegram/{account_id}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        warm = await post_many(hook, 200, update_body, headers=headers)
        assert warm.errors == 0, warm.statuses
        await _wait_messages(factory, 200)
        started = time.perf_counter()
        result = await post_many(hook, n, lambda i: update_body(i + 1_000_000), headers=headers)
        assert result.errors == 0, result.statuses
        await _wait_messages(factory, 200 + n)
        processed = n / (time.perf_counter() - started)
        return result.rps, processed
    finally:
        proc.terminate()
        proc.wait(10)
        await engine.dispose()


async def _wait_messages(factory: object, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with factory() as session:  # type: ignore[operator]
            have = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
        if have >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"only {have} of {count} messages were processed")


async def main_async(n: int, targets: list[tuple[str, str, str]], work: Path) -> None:
    emulator = TelegramEmulator()
    await emulator.start()
    rows = []
    try:
        for label, base_url, our_url in targets:
            base_rps = await baseline(base_url, n, work)
            ack_rps, done_rps = await ours(our_url, n, work, emulator)
            rows.append((label, base_rps, ack_rps, done_rps))
    finally:
        await emulator.stop()
    print(f"\ningest benchmark: {n} Telegram updates, 32 keep-alive connections, {os.cpu_count()} cores")
    print(f"{'database':<11} {'bare INSERT/s':>14} {'webhook ack/s':>14} {'ingested msg/s':>15} {'b/a':>6}")
    for label, base_rps, ack_rps, done_rps in rows:
        print(
            f"{label:<11} {base_rps:>14.0f} {ack_rps:>14.0f} {done_rps:>15.0f} {done_rps / base_rps:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="updates per target")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        targets = [
            (
                "SQLite",
                f"sqlite+aiosqlite:///{work / 'base.sqlite3'}",
                f"sqlite+aiosqlite:///{work / 'o.sqlite3'}",
            )
        ]
        pg: list[str] = []
        if services.pg_available():
            pg = [services.create_pg_database(), services.create_pg_database()]
            targets.append(("PostgreSQL", pg[0], pg[1]))
        try:
            asyncio.run(main_async(args.n, targets, work))
        finally:
            for url in pg:
                services.drop_pg_database(url)


if __name__ == "__main__":
    main()
