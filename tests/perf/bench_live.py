"""Live updates: webhook -> SSE frame in a browser-like client (httpx streaming `/events` with a manager's
session), p50/p99, at a given webhook rate (about half the sustained ingest rate), in one process (SQLite,
in-process channels) and across two processes (PostgreSQL + Redis: webhooks to one, the stream from the
other); beside a bare Redis publish -> subscribe round trip measured in the same run.

Load: `wrk` (-c16, paced on a fixed schedule by the Lua script, so the rate asked is the rate offered) sends
most of the webhooks; the probe (this process) sends 20/s of its own, one at a time, and times each from the
moment it is sent to the frame naming its message. Before the timed run, a warm-up creates the customers
both write as (as the ingest benchmark's warm-up does).

    python -m tests.perf.bench_live [--rate 150] [--pg-rate 150] [--seconds 15] [--profile DIR]
        [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis
from sqlalchemy import select

from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.models import InboundEvent, Message
from tests import services
from tests.emulators.telegram import TelegramEmulator
from tests.perf.bench_ingest import SECRET, _wrk, drained, serve_env, spawn, stop, webhook_bot
from tests.perf.profile import start_profile, summarize
from tests.perf.table import Row
from tests.server import cli, wait_http

PROBE_RATE = 20.0
# wrk paces the background load on a schedule (BENCH_RATE); enough connections that a slow answer never
# holds the offered rate down (4 connections with a fixed pause delivered a third of the rate asked).
LOAD_CONNECTIONS = 16
EMAIL, PASSWORD = "live@shop.example", "live-bench-password"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


async def redis_round_trip(samples: int = 300) -> list[float]:
    """Publish -> subscriber receives, in ms, on the same Redis the cluster uses."""
    pub, sub = Redis.from_url(services.REDIS_URL), Redis.from_url(services.REDIS_URL)
    ps = sub.pubsub()
    await ps.subscribe("bench:live")
    await ps.get_message(timeout=1)  # the subscribe confirmation
    out = []
    try:
        for i in range(samples):
            started = time.perf_counter()
            await pub.publish("bench:live", str(i))
            while True:
                msg = await ps.get_message(ignore_subscribe_messages=True, timeout=5)
                if msg is not None and msg["data"] == str(i).encode():
                    break
            out.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)
    finally:
        await ps.aclose()
        await pub.aclose()
        await sub.aclose()
    return out


async def login(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    done = await client.post("/login", data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token})
    if done.status_code not in (302, 303):
        raise RuntimeError(f"login failed: {done.status_code}")


PROBE_CHATS = 200


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


def profile_report(profile: Path, label: str) -> str:
    return "".join(
        f"\nprofile of serve under the live load ({label}): {raw}\n{summarize(raw)}\n"
        for raw in sorted(profile.glob(f"live-{slug(label)}-*.raw"))
    )


def probe_headers() -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


def probe_update(k: int) -> tuple[str, bytes]:
    chat = 700_000 + k % PROBE_CHATS
    body = {
        "update_id": 90_000_000 + k,
        "message": {
            "message_id": 50_000_000 + k,
            "date": int(time.time()),
            "from": {"id": chat, "is_bot": False, "first_name": "Зонд"},
            "chat": {"id": chat, "type": "private", "first_name": "Зонд"},
            "text": f"Проба {k}",
        },
    }
    return f"{chat}:{50_000_000 + k}", json.dumps(body, ensure_ascii=False).encode()


async def measure(
    label: str,
    db_url: str,
    processes: int,
    rate: float,
    seconds: float,
    work: Path,
    emu: TelegramEmulator,
    profile: Path | None = None,
) -> list[float]:
    """Probe latencies in ms; with ``profile``, py-spy records every serve process through the timed run."""
    await asyncio.to_thread(upgrade, db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    account_id = await webhook_bot(factory, emu.base_url, "http://127.0.0.1:1", name="live")
    env = serve_env(db_url, work, bots=False)
    if processes > 1:
        env["INBOX_REDIS_URL"] = services.REDIS_URL
    made = cli(env, work, "manager", "create", "--email", EMAIL, "--name", "Live", "--password", PASSWORD)
    if made.returncode != 0:
        raise RuntimeError(made.stderr)
    ports = [services.free_port() for _ in range(processes)]
    servers = [
        spawn([sys.executable, "-m", "inbox.cli", "serve", "--port", str(p)], env, work) for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    hook = f"{urls[0]}/webhooks/telegram/{account_id}"
    frames: dict[int, float] = {}
    sent: dict[str, float] = {}
    try:
        for url in urls:
            await asyncio.to_thread(wait_http, url + "/healthz", 90)
        # Warm-up, as the ingest benchmark whose sustained rate sets ours: the customers the load and the
        # probe write as exist before the timed run (a first message also creates a customer, an identity and
        # a thread), so that the latency measured is that of the steady state.
        await _wrk(hook, connections=32, seconds=2, offset=0, secret=SECRET)
        async with httpx.AsyncClient(timeout=30) as warm:
            for k in range(PROBE_CHATS):
                _, body = probe_update(k)
                await warm.post(hook, content=body, headers=probe_headers())
        await drained(factory)
        async with httpx.AsyncClient(base_url=urls[-1], timeout=30) as browser:
            await login(browser)
            async with browser.stream("GET", "/events") as stream:

                async def read() -> None:
                    async for line in stream.aiter_lines():
                        if line.startswith("data:") and '"message.new"' in line:
                            frames[int(json.loads(line[5:])["message_id"])] = time.perf_counter()

                reader = asyncio.create_task(read())
                await asyncio.sleep(1)  # subscribed
                spies = (
                    [
                        start_profile(proc.pid, profile / f"live-{slug(label)}-{n}.raw", seconds)
                        for n, proc in enumerate(servers)
                    ]
                    if profile is not None
                    else []
                )
                background = max(rate - PROBE_RATE, 1.0)
                load = asyncio.create_task(
                    _wrk(
                        hook,
                        connections=LOAD_CONNECTIONS,
                        seconds=seconds,
                        offset=60_000_000,
                        secret=SECRET,
                        rate=background,
                    )
                )
                headers = probe_headers()
                async with httpx.AsyncClient(timeout=30) as probe:
                    k = PROBE_CHATS  # past the warm-up's updates
                    deadline = time.monotonic() + seconds
                    while time.monotonic() < deadline:
                        ext, body = probe_update(k)
                        sent[ext] = time.perf_counter()
                        answer = await probe.post(hook, content=body, headers=headers)
                        if answer.status_code != 200:
                            raise RuntimeError(f"probe webhook answered {answer.status_code}")
                        k += 1
                        await asyncio.sleep(1 / PROBE_RATE)
                result = await load
                for spy in spies:
                    await asyncio.to_thread(spy.wait, 60)
                print(f"live ({label}): background {result.rps:.0f} webhooks/s + probe {PROBE_RATE:.0f}/s")
                await asyncio.sleep(2)  # the last frames
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await reader
        async with factory() as session:
            ids = dict(
                (
                    await session.execute(
                        select(Message.external_id, Message.id).where(Message.external_id.in_(list(sent)))
                    )
                ).all()
            )
            keys = [str(90_000_000 + k) for k in range(PROBE_CHATS, k)]
            stamps = (
                await session.execute(
                    select(InboundEvent.received_at, InboundEvent.processed_at).where(
                        InboundEvent.account_id == account_id, InboundEvent.key.in_(keys)
                    )
                )
            ).all()
        waits = [(done - got).total_seconds() * 1000 for got, done in stamps if done is not None]
        if waits:  # where the time went: the part before the commit of the message (the rest is transport)
            print(
                f"live ({label}): raw event committed -> processed p50 {pct(waits, 0.5):.1f} ms, "
                f"p99 {pct(waits, 0.99):.1f} ms"
            )
    finally:
        for proc in servers:
            stop(proc)
        await engine.dispose()
    latencies = [
        (frames[ids[ext]] - t) * 1000 for ext, t in sent.items() if ext in ids and ids[ext] in frames
    ]
    missing = len(sent) - len(latencies)
    if missing:  # counted as never arriving: they weigh on p99 as the slowest
        print(f"live ({label}): {missing} of {len(sent)} probes without a frame within 2 s of the end")
        latencies += [float("inf")] * missing
    return latencies


def run(
    rate: float,
    seconds: float,
    work: Path,
    pg_rate: float | None = None,
    profile: Path | None = None,
    only: str | None = None,
) -> list[Row]:
    """``rate`` webhooks/s on SQLite, ``pg_rate`` (default: the same) on PostgreSQL: half of what each
    sustains, so that latency is measured below saturation, as the issue asks."""
    pg = services.create_pg_database() if services.pg_available() else None
    try:
        return asyncio.run(_run(rate, seconds, work, pg, pg_rate or rate, profile, only))
    finally:
        if pg is not None:
            services.drop_pg_database(pg)


async def _run(
    rate: float,
    seconds: float,
    work: Path,
    pg: str | None,
    pg_rate: float,
    profile: Path | None,
    only: str | None = None,
) -> list[Row]:
    emu = TelegramEmulator()
    await emu.start()
    rows: list[Row] = []
    try:
        base = await redis_round_trip()
        targets = []
        if only != "postgresql":
            targets.append(("SQLite, 1 process", f"sqlite+aiosqlite:///{work / 'live.sqlite3'}", 1, rate))
        if pg is not None and only != "sqlite":
            targets.append(("PostgreSQL + Redis, 2 processes", pg, 2, pg_rate))
        for label, url, n, rate in targets:
            lat = await measure(label, url, n, rate, seconds, work, emu, profile)
            if profile is not None:
                print(await asyncio.to_thread(profile_report, profile, label))
            name = f"live update (webhook -> SSE) at {rate:.0f}/s"
            for q, tag in ((0.5, "p50"), (0.99, "p99")):
                rows.append(
                    Row(
                        name,
                        label,
                        tag,
                        pct(lat, q),
                        "ms",
                        pct(base, q),
                        "Redis pub->sub",
                        "<= 50 ms",
                        higher_is_better=False,
                    )
                )
        print(f"Redis publish -> subscribe: p50 {statistics.median(base):.2f} ms")
    finally:
        await emu.stop()
    return rows


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--pg-rate", type=float, help="the rate on PostgreSQL (default: --rate)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--profile", type=Path, help="write py-spy raw profiles of the serve processes here")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="measure one database only")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(render_text(run(args.rate, args.seconds, Path(tmp), args.pg_rate, args.profile, args.only)))


if __name__ == "__main__":
    main()
