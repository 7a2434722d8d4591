"""Ingest benchmark: Telegram webhook (500 customers) driven by `wrk -c32` against, in the same run and on the
same database and server settings, the bare one-INSERT Litestar endpoint (`bare_app`). The bare endpoint is
measured before and after our runs and counts both (the load of a shared machine moves within minutes).

Figures per database: acknowledged rate and p99 of the acknowledgement, sustained rate (acknowledged and
processed into messages, backlog drained), single-request latency (`wrk -c1`), the sustained rate with the
bot on, and the serve process's peak RSS. Run:
python -m tests.perf.bench_ingest [--seconds 15] [--profile DIR] [--only sqlite|postgresql] [--no-bot]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from inbox.db import SessionFactory, make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ChannelAccount, InboundEvent
from tests import services
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.perf.profile import start_profile, summarize
from tests.perf.table import Row
from tests.perf.wrk import WrkResult, run_wrk
from tests.server import wait_http

SECRET = "bench-secret"
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "telegram_update.lua"


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    log = open(cwd / "server.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass(frozen=True)
class Measured:
    loaded: WrkResult  # wrk -c32
    serial: WrkResult  # wrk -c1, back to back
    single: WrkResult  # wrk -c1, one request every SPACED_MS
    sustained: float | None = None  # acknowledged and processed per second (ours only)
    rss_mb: float | None = None


def short(seconds: float) -> float:
    """The length of the one-connection runs."""
    return max(1.0, min(5.0, seconds / 3))


SPACED_MS = 25  # the pause between single requests: each meets a server that is done with the previous one


async def _wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    offset: int,
    secret: str = "",
    delay_ms: int = 0,
    rate: float = 0,
) -> WrkResult:
    """``delay_ms``: a pause before each request of a connection; ``rate``: requests per second over all
    connections on a fixed schedule (see the Lua script)."""
    env = {
        "BENCH_OFFSET": str(offset),
        "BENCH_SECRET": secret,
        "BENCH_CUSTOMERS": "500",
        "BENCH_DELAY_MS": str(delay_ms),
        "BENCH_RATE": f"{rate:.3f}",
    }
    return await asyncio.to_thread(run_wrk, url, SCRIPT, connections=connections, seconds=seconds, env=env)


async def bare(db_url: str, work: Path, seconds: float) -> Measured:
    port = services.free_port()
    proc = spawn([sys.executable, "-m", "tests.perf.bare_app", "--db", db_url, "--port", str(port)], {}, work)
    url = f"http://127.0.0.1:{port}/ingest"
    try:
        await asyncio.to_thread(wait_http, url, 30)
        await _wrk(url, connections=32, seconds=min(2, seconds), offset=0)  # warm-up
        loaded = await _wrk(url, connections=32, seconds=seconds, offset=10_000_000)
        serial = await _wrk(url, connections=1, seconds=short(seconds), offset=20_000_000)
        single = await _wrk(url, connections=1, seconds=short(seconds), offset=30_000_000, delay_ms=SPACED_MS)
        return Measured(loaded, serial, single)
    finally:
        stop(proc)


async def ours(
    db_url: str,
    work: Path,
    emulator: TelegramEmulator,
    seconds: float,
    *,
    bots: bool,
    profile: Path | None = None,
) -> Measured:
    await asyncio.to_thread(upgrade, db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    port = services.free_port()
    account_id = await webhook_bot(factory, emulator.base_url, f"http://127.0.0.1:{port}")
    env = serve_env(db_url, work, bots=bots)
    proc = spawn([sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)], env, work)
    hook = f"http://127.0.0.1:{port}/webhooks/telegram/{account_id}"
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60)
        warm = await _wrk(hook, connections=32, seconds=min(2, seconds), offset=0, secret=SECRET)
        if warm.errors:
            raise RuntimeError(f"warm-up: {warm.errors} of {warm.requests} requests failed")
        await drained(factory)
        spy = start_profile(proc.pid, profile, seconds) if profile is not None and not bots else None
        started = time.perf_counter()
        loaded = await _wrk(hook, connections=32, seconds=seconds, offset=10_000_000, secret=SECRET)
        if profile is not None and bots:  # with the bot on, the work is in the drain after wrk stops
            spy = start_profile(proc.pid, profile, seconds)
        await drained(factory)
        rss = rss_mb(proc.pid)  # the peak so far: warm-up, load and drain
        sustained = loaded.ok / (time.perf_counter() - started)
        if spy is not None:
            spy.wait(60)
        serial = await _wrk(hook, connections=1, seconds=short(seconds), offset=20_000_000, secret=SECRET)
        await drained(factory)
        single = await _wrk(
            hook,
            connections=1,
            seconds=short(seconds),
            offset=30_000_000,
            secret=SECRET,
            delay_ms=SPACED_MS,
        )
        await drained(factory)
        return Measured(loaded, serial, single, sustained, rss)
    finally:
        stop(proc)
        await engine.dispose()


def merged(a: WrkResult, b: WrkResult) -> WrkResult:
    """Two runs as one: rates over the total time, latencies averaged."""
    return WrkResult(
        requests=a.requests + b.requests,
        seconds=a.seconds + b.seconds,
        errors=a.errors + b.errors,
        p50_ms=(a.p50_ms + b.p50_ms) / 2,
        p99_ms=(a.p99_ms + b.p99_ms) / 2,
        max_ms=max(a.max_ms, b.max_ms),
        mean_ms=(a.mean_ms + b.mean_ms) / 2,
    )


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # the resident set's high-water mark
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def drained(factory: object, timeout: float = 900) -> None:
    """Until every committed raw event is processed."""
    deadline = time.monotonic() + timeout
    left = -1
    while time.monotonic() < deadline:
        async with factory() as session:  # type: ignore[operator]
            left = (
                await session.execute(
                    select(func.count()).select_from(InboundEvent).where(InboundEvent.processed_at.is_(None))
                )
            ).scalar_one()
        if left == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{left} raw events still unprocessed")


def rows(label: str, base: Measured, off: Measured, on: Measured | None) -> list[Row]:
    b = "bare INSERT, before+after"
    out = [
        Row(
            "ingest ack (wrk -c32)", label, "ack rate", off.loaded.rps, "req/s", base.loaded.rps, b, ">= 0.9x"
        ),
        Row(
            "ingest ack (wrk -c32)",
            label,
            "ack p99",
            off.loaded.p99_ms,
            "ms",
            base.loaded.p99_ms,
            b,
            "<= 2x",
            higher_is_better=False,
        ),
        Row(
            "ingest sustained", label, "processed", off.sustained or 0, "msg/s", base.loaded.rps, b, ">= 0.6x"
        ),
        Row(
            f"ingest single (1 per {SPACED_MS} ms)",
            label,
            "ack p50",
            off.single.p50_ms,
            "ms",
            base.single.p50_ms,
            b,
            "<= 2x",
            higher_is_better=False,
        ),
        Row(
            "ingest serial (wrk -c1)",
            label,
            "ack p50",
            off.serial.p50_ms,
            "ms",
            base.serial.p50_ms,
            b,
            "",
            higher_is_better=False,
        ),
    ]
    if on is not None:
        out.append(
            Row(
                "ingest sustained, bot on",
                label,
                "processed",
                on.sustained or 0,
                "msg/s",
                base.loaded.rps,
                b,
                ">= 0.4x",
            )
        )
    for bench, run in (("memory (serve, ingest)", off), ("memory (serve, ingest, bot on)", on)):
        if run is not None and run.rss_mb is not None:
            out.append(
                Row(bench, label, "peak RSS", run.rss_mb, "MB", 200, "limit", "<= 1x", higher_is_better=False)
            )
    return out


def targets(work: Path, only: str | None) -> list[tuple[str, str, list[str]]]:
    """(label, bare url, [bot-off url, bot-on url]) per database."""
    out: list[tuple[str, str, list[str]]] = []
    if only in (None, "sqlite"):
        out.append(
            (
                "SQLite",
                f"sqlite+aiosqlite:///{work / 'bare.sqlite3'}",
                [f"sqlite+aiosqlite:///{work / 'off.sqlite3'}", f"sqlite+aiosqlite:///{work / 'on.sqlite3'}"],
            )
        )
    if only in (None, "postgresql") and services.pg_available():  # called outside the event loop
        out.append(
            ("PostgreSQL", services.create_pg_database(), [services.create_pg_database() for _ in "ab"])
        )
    return out


def run(
    work: Path, seconds: float, *, only: str | None = None, bots: bool = True, profile: Path | None = None
) -> list[Row]:
    made = targets(work, only)
    try:
        return asyncio.run(_run(made, work, seconds, bots=bots, profile=profile))
    finally:
        for _label, base_url, urls in made:
            for url in [base_url, *urls]:
                if url.startswith("postgresql"):
                    services.drop_pg_database(url)


async def _run(
    made: list[tuple[str, str, list[str]]], work: Path, seconds: float, *, bots: bool, profile: Path | None
) -> list[Row]:
    emulator = TelegramEmulator()
    await emulator.start()
    out: list[Row] = []
    try:
        for label, base_url, (off_url, on_url) in made:
            before = await bare(base_url, work, seconds)
            spy = profile / f"ingest-{label.lower()}.raw" if profile is not None else None
            off = await ours(off_url, work, emulator, seconds, bots=False, profile=spy)
            if spy is not None and spy.exists():
                print(f"\nprofile of serve under wrk -c32 ({label}, bot off): {spy}\n{summarize(spy)}")
            spy_on = profile / f"ingest-{label.lower()}-bot.raw" if profile is not None else None
            on = await ours(on_url, work, emulator, seconds, bots=True, profile=spy_on) if bots else None
            if spy_on is not None and spy_on.exists():
                print(f"\nprofile of serve under wrk -c32 ({label}, bot on): {spy_on}\n{summarize(spy_on)}")
            # On a shared machine the load moves within minutes: the baseline brackets our runs (measured
            # before and after them) and counts both.
            after = await bare(base_url, work, seconds)
            base = Measured(
                merged(before.loaded, after.loaded),
                merged(before.serial, after.serial),
                merged(before.single, after.single),
            )
            out += rows(label, base, off, on)
    finally:
        await emulator.stop()
    return out


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-bot", action="store_true", help="skip the bot-on run")
    parser.add_argument("--profile", type=Path, help="write py-spy raw profiles here")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), args.seconds, only=args.only, bots=not args.no_bot, profile=args.profile)
    print(render_text(result))


async def webhook_bot(factory: SessionFactory, api_base: str, public_url: str, name: str = "bench") -> int:
    """A Telegram account in webhook mode against the emulator (the benchmarks' one channel); its id."""
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="telegram",
            name=name,
            state={},
            settings={"mode": "webhook", "api_base": api_base, "public_url": public_url},
            secrets={"token": DEFAULT_TOKEN, "webhook_secret": SECRET},
        )
        session.add(row)
        await session.flush()
        return row.id


def serve_env(db_url: str, work: Path, *, bots: bool) -> dict[str, str]:
    """The environment of a benchmarked `inbox serve` (bots only where a row says "bot on")."""
    return {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(work / "data"),
        "INBOX_SECRET_KEY": "bench-secret-key-0123456789",
        "INBOX_BOTS": "on" if bots else "off",
    }


if __name__ == "__main__":
    main()
