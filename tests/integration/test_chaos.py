"""Chaos: 3 web processes and 2 workers on PostgreSQL + Redis under a steady load on every channel emulator
(Telegram polling and webhook accounts on the Bot API emulator, a VK community on the Callback API, an SMS
number on the Twilio-style gateway) with manager replies through the API and the bot on (the default); a
random process is killed with SIGKILL 20 times and the Telegram provider goes down for 60 s. Afterwards every
inbound message is stored once, every reply delivered once (a duplicate only where a worker died between the
provider's answer and our commit, counted), per-chat order is kept and the backlog drained, per channel.
Loopback only; seeded (``CHAOS_SEED``) so that a failure can be replayed; the whole test stays under three
minutes.

The website widget and email are not in the load: the widget has no provider to deliver to (its "delivery"
is the visitor's next history call) and email needs an IMAP server per run; both have their own flow tests."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.security import new_api_token, token_digest
from inbox.db import make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ApiToken, ChannelAccount, Identity, InboundEvent, Message, Outbox, Thread
from tests import services
from tests.emulators.sms import SMSEmulator
from tests.emulators.telegram import TelegramEmulator, text_update, user
from tests.emulators.vk import VKEmulator, message_new
from tests.emulators.vk import message as vk_message
from tests.integration.test_scale_out import redis_url as redis_url  # a fixture
from tests.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))
# 20 kills in 50 s of load (one every 2.4 s on average) with a 37 s provider outage inside it: a backlog
# far past the outbox's backoff cap. CHAOS_LOAD_SECONDS stretches the load for a longer
# soak, the outage with it.
LOAD_SECONDS = float(os.environ.get("CHAOS_LOAD_SECONDS", "50"))
PROVIDER_DOWN = (0.12 * LOAD_SECONDS, 0.86 * LOAD_SECONDS)  # seconds into the load: the provider is down
KILLS = 20
POLL_TOKEN = "700001:AAHpollingTOKENpollingTOKEN01"
HOOK_TOKEN = "700002:AAHwebhookTOKENwebhookTOKEN02"
HOOK_SECRET = "chaos-webhook-secret"
CHATS = 3  # per account: 4 accounts, the same total load as 6 chats on each of two Telegram accounts had
VK_GROUP = 77
VK_TOKEN = "vk1.a." + "c" * 60
VK_SECRET = "chaos-vk-secret"
SMS_FROM = "+15005550006"
CHANNELS = ("telegram", "vk", "sms")
POLL_CHATS = [1000 + i for i in range(CHATS)]
HOOK_CHATS = [2000 + i for i in range(CHATS)]
VK_CHATS = [3000 + i for i in range(CHATS)]
SMS_CHATS = [4000 + i for i in range(CHATS)]


def channel_of(chat: int) -> str:
    return "vk" if chat in VK_CHATS else "sms" if chat in SMS_CHATS else "telegram"


def external_id(chat: int) -> str:
    """The identity's external id of a chat: Telegram's chat id, VK's peer id, the SMS sender's number."""
    return f"+7903555{chat}" if chat in SMS_CHATS else str(chat)


class Cluster:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.web_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()

    def args(self, name: str) -> list[str]:
        if name.startswith("web"):
            port = self.web_ports[int(name[3:])]
            return [sys.executable, "-m", "inbox.cli", "serve", "--no-workers", "--port", str(port)]
        return [sys.executable, "-m", "inbox.cli", "worker"]

    def start(self, name: str) -> None:
        log = (self.cwd / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            self.args(name), env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.kills[name.rstrip("0123456789")] += 1

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.web_ports]


def log_tails(folder: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()[-600:]}" for p in sorted(folder.glob("*.log")))


async def wait_ready(urls: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=3) as client:
        for url in urls:
            last = ""
            while True:
                try:
                    answer = await client.get(url + "/readyz")
                    if answer.status_code == 200:
                        break
                    last = answer.text
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} never became ready: {last}")
                await asyncio.sleep(0.3)


async def test_cluster_survives_kills_and_a_provider_outage(
    redis_url: str, tmp_path: Path, ci_log: Callable[[str], None]
) -> None:
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    rng = random.Random(SEED)
    began = time.monotonic()
    print(f"\nchaos seed {SEED} (replay with CHAOS_SEED={SEED})")
    url = await asyncio.to_thread(services.create_pg_database)
    emu = TelegramEmulator(default_token=POLL_TOKEN, webhook_retry_delay=0.5)
    await emu.start()
    vk = VKEmulator(group_id=VK_GROUP, token=VK_TOKEN, echo_replies=False)
    await vk.start()
    for chat in VK_CHATS:
        vk.add_user(chat, f"Vk{chat}", "Chaos")
    sms = SMSEmulator().start()
    cluster: Cluster | None = None
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        await asyncio.to_thread(upgrade, url)
        token = new_api_token()
        async with transaction(factory) as session:
            session.add(ApiToken(name="chaos", token_sha256=token_digest(token)))
            poll = ChannelAccount(
                kind="telegram",
                name="poll",
                state={},
                secrets={"token": POLL_TOKEN},
                settings={
                    "mode": "polling",
                    "api_base": emu.base_url,
                    # A send that outlives its timeout is ambiguous (the provider may have taken it) and is
                    # sent again: the duplicates should come from the kills, not from a slow machine.
                    "request_timeout": 10,
                    "poll_timeout": 1,
                },
            )
            session.add(poll)
        env = {
            "INBOX_DATABASE_URL": url,
            "INBOX_REDIS_URL": redis_url,
            "INBOX_DATA_DIR": str(tmp_path / "data"),
            "INBOX_SECRET_KEY": "chaos-secret-key-0123456789",
            # The bot is on (the default): it answers the customers' texts it does not understand, then hands
            # off; its sends are counted apart from the managers' (unique texts make every copy countable).
            # Twice the 10 s request timeout: a send starts only while its row's lease still covers that
            # timeout and is cut off before the lease ends (outbox.send_budget), or a slow send would outlive
            # its lease and another worker would send the row again.
            "INBOX_OUTBOX_LEASE_SECONDS": "20",
            "INBOX_INBOUND_LEASE_SECONDS": "6",
            "INBOX_OUTBOX_BACKOFF_CAP": "2",
            "INBOX_OUTBOX_MAX_ATTEMPTS": "1000",
            # Managers reply about once a second per chat, as fast as Telegram's 1/s per chat, which the
            # cluster now holds in Redis for all its processes together: the outage's backlog would hardly
            # drain. Pacing has its own test (test_outbound_pacing); this one is about faults.
            "INBOX_TELEGRAM_RATE_PER_CHAT": "5",
            "INBOX_LOG_FORMAT": "json",
        }
        cluster = Cluster(env, tmp_path)
        async with transaction(factory) as session:
            hook = ChannelAccount(
                kind="telegram",
                name="hook",
                state={},
                secrets={"token": HOOK_TOKEN, "webhook_secret": HOOK_SECRET},
                settings={
                    "mode": "webhook",
                    "api_base": emu.base_url,
                    "request_timeout": 10,
                    "public_url": cluster.urls()[0],
                },
            )
            session.add(hook)
            vk_account = ChannelAccount(
                kind="vk",
                name="club",
                state={},
                secrets={"token": VK_TOKEN, "secret": VK_SECRET, "confirmation": "c0nf1rm"},
                settings={"group_id": VK_GROUP, "mode": "callback", "api_base": vk.base_url},
            )
            session.add(vk_account)
            sms_account = ChannelAccount(
                kind="sms",
                name="sms",
                state={},
                secrets={"account_sid": sms.twilio_sid, "auth_token": sms.twilio_token},
                settings={
                    "provider": "twilio",
                    "from": SMS_FROM,
                    "api_base": sms.base_url,
                    "public_url": cluster.urls()[0],
                },
            )
            session.add(sms_account)
            await session.flush()
            hook_id, vk_id, sms_id = hook.id, vk_account.id, sms_account.id
        names = ["web0", "web1", "web2", "worker0", "worker1"]
        for name in names:
            cluster.start(name)
        try:
            await wait_ready(cluster.urls(), timeout=150)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log_tails(tmp_path)}") from None

        sent_in: dict[int, list[str]] = {}  # chat -> texts the customers sent, in order
        replies: dict[int, list[str]] = {}  # chat -> replies the API accepted (201), in order
        ambiguous: list[str] = []  # replies whose API call broke: maybe stored, maybe not
        refused: Counter[str] = Counter()  # answers other than 201, by status and text
        stop = asyncio.Event()
        t0 = time.monotonic()
        web_alive = asyncio.Event()
        web_alive.set()

        async def polling_customer(chat: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                body = f"in-{chat}-{n}"
                emu.queue_update(
                    text_update(chat, body, sender=user(chat, f"Poll{chat}", None)), token=POLL_TOKEN
                )
                sent_in.setdefault(chat, []).append(body)
                await asyncio.sleep(rng.uniform(0.4, 0.9))

        update_ids = iter(range(1, 10**9))

        def telegram_request(chat: int, body: str, base: str) -> tuple[str, dict[str, str], bytes]:
            update = {
                "update_id": next(update_ids),
                **text_update(chat, body, sender=user(chat, f"Hook{chat}", None)),
            }
            headers = {"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET, "Content-Type": "application/json"}
            return f"{base}/webhooks/telegram/{hook_id}", headers, json.dumps(update).encode()

        def vk_request(chat: int, n: int, body: str, base: str) -> tuple[str, dict[str, str], bytes]:
            event = message_new(VK_GROUP, vk_message(chat, body, cmid=n), event_id=f"ev-{chat}-{n}")
            data = json.dumps({**event, "secret": VK_SECRET}, ensure_ascii=False).encode()
            return f"{base}/webhooks/vk/{vk_id}", {"Content-Type": "application/json"}, data

        def sms_request(chat: int, n: int, body: str, base: str) -> tuple[str, dict[str, str], bytes]:
            url = f"{base}/webhooks/sms/{sms_id}"
            headers, data, _ = sms.twilio_inbound_request(
                url, sender=external_id(chat), to=SMS_FROM, body=body, sid=f"SM{chat:08d}{n:024d}"
            )
            return url, headers, data

        async def webhook_customer(chat: int, client: httpx.AsyncClient) -> None:
            """A provider that redelivers each message (the same update / event / sid) until it sees 200."""
            n = 0
            while not stop.is_set():
                n += 1
                body = f"in-{chat}-{n}"
                telegram = (
                    telegram_request(chat, body, "") if channel_of(chat) == "telegram" else None
                )  # one update_id for all its redeliveries
                given_up = time.monotonic() + 1000
                acked = False
                while time.monotonic() < given_up:
                    if stop.is_set() and given_up > time.monotonic() + 20:
                        given_up = time.monotonic() + 15
                    base = rng.choice(cluster.urls())
                    if telegram is not None:
                        url, headers, data = base + telegram[0], telegram[1], telegram[2]
                    elif channel_of(chat) == "vk":
                        url, headers, data = vk_request(chat, n, body, base)
                    else:
                        url, headers, data = sms_request(chat, n, body, base)
                    try:
                        answer = await client.post(url, content=data, headers=headers)
                        if answer.status_code == 200:
                            acked = True
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
                if not acked:
                    return  # never acknowledged: the provider would still hold it
                sent_in.setdefault(chat, []).append(body)
                await asyncio.sleep(rng.uniform(0.4, 0.9))

        async def thread_of(chat: int) -> int | None:
            async with factory() as session:
                return (
                    await session.execute(
                        select(Thread.id)
                        .join(Identity, Identity.customer_id == Thread.customer_id)
                        .where(Identity.external_id == external_id(chat))
                    )
                ).scalar()

        async def manager(chat: int, client: httpx.AsyncClient) -> None:
            n = 0
            while not stop.is_set():
                thread_id = await thread_of(chat)
                if thread_id is None:
                    await asyncio.sleep(0.3)
                    continue
                n += 1
                body = f"out-{chat}-{n}"
                while not stop.is_set():
                    base = rng.choice(cluster.urls())
                    try:
                        answer = await client.post(
                            f"{base}/api/v1/threads/{thread_id}/messages",
                            json={"text": body},
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    except httpx.ConnectError:  # nothing was sent: try another process
                        await asyncio.sleep(0.1)
                        continue
                    except httpx.HTTPError:
                        ambiguous.append(body)  # the process may have died after its commit
                        break
                    if answer.status_code == 201:
                        replies.setdefault(chat, []).append(body)
                    else:
                        ambiguous.append(body)
                        refused[f"{answer.status_code} {answer.text[:80]}"] += 1
                    break
                await asyncio.sleep(rng.uniform(0.8, 1.5))

        async def chaos() -> None:
            interval = LOAD_SECONDS / (KILLS + 1)
            down = False
            for _ in range(KILLS):
                await asyncio.sleep(interval * rng.uniform(0.7, 1.3))
                elapsed = time.monotonic() - t0
                if not down and elapsed >= PROVIDER_DOWN[0]:
                    emu.fail("*", "server_error", times=-1, status=502)
                    down = True
                    print(f"provider down at {elapsed:.0f}s")
                if down and elapsed >= PROVIDER_DOWN[1] and emu.faults:
                    emu.faults.clear()
                    print(f"provider back at {elapsed:.0f}s")
                victim = rng.choice(names)
                await asyncio.to_thread(cluster.kill, victim)
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                cluster.start(victim)
            if emu.faults:
                await asyncio.sleep(max(0.0, PROVIDER_DOWN[1] - (time.monotonic() - t0)))
                emu.faults.clear()

        async with httpx.AsyncClient(timeout=10) as client:
            load = [asyncio.create_task(polling_customer(c)) for c in POLL_CHATS]
            load += [
                asyncio.create_task(webhook_customer(c, client)) for c in HOOK_CHATS + VK_CHATS + SMS_CHATS
            ]
            managed = POLL_CHATS[:2] + HOOK_CHATS[:1] + VK_CHATS[:2] + SMS_CHATS[:1]
            load += [asyncio.create_task(manager(c, client)) for c in managed]
            # Faults start once every managed chat has its thread, so that replies flow on every channel
            # however slowly a loaded machine handles the first messages.
            warm_until = time.monotonic() + 60
            while any([await thread_of(c) is None for c in managed]):
                assert time.monotonic() < warm_until, "no threads after 60 s:\n" + log_tails(tmp_path)
                await asyncio.sleep(0.3)
            warm_up = time.monotonic() - t0
            t0 = time.monotonic()
            print(f"faults start after a warm-up of {warm_up:.1f}s")
            await chaos()
            print(f"kills done at {time.monotonic() - t0:.0f}s")
            remaining = LOAD_SECONDS - (time.monotonic() - t0)
            if remaining > 0:
                await asyncio.sleep(remaining)
            stop.set()
            await asyncio.gather(*load)
            print(f"load stopped at {time.monotonic() - t0:.0f}s")
        load_time = time.monotonic() - t0

        # Drain: everything committed gets processed and sent.
        async def drained() -> bool:
            async with factory() as session:
                pending_out = (
                    await session.execute(
                        select(func.count()).select_from(Outbox).where(Outbox.done_at.is_(None))
                    )
                ).scalar_one()
                pending_in = (
                    await session.execute(
                        select(func.count())
                        .select_from(InboundEvent)
                        .where(InboundEvent.processed_at.is_(None))
                    )
                ).scalar_one()
                stored = (
                    await session.execute(
                        select(func.count()).select_from(Message).where(Message.direction == "in")
                    )
                ).scalar_one()
            expected = sum(len(v) for v in sent_in.values())
            return (
                pending_out == 0
                and pending_in == 0
                and stored >= expected
                and not emu.bot(POLL_TOKEN).updates
            )

        deadline = time.monotonic() + 90
        while not await drained():
            assert time.monotonic() < deadline, "the backlog did not drain in 90 s:\n" + log_tails(tmp_path)
            await asyncio.sleep(0.5)
        drain_time = time.monotonic() - t0 - load_time

        async with factory() as session:
            rows = (
                await session.execute(
                    select(
                        Message.text,
                        Message.direction,
                        Message.delivery,
                        Message.author,
                        Identity.external_id,
                    )
                    .join(Thread, Thread.id == Message.thread_id)
                    .join(Identity, Identity.customer_id == Thread.customer_id)
                    .where(Message.direction.in_(("in", "out")))
                    .order_by(Message.id)
                )
            ).all()
        # Every send each provider took, in order: (channel, chat's external id, text).
        sends = [
            (
                "telegram",
                str(r.params.get("chat_id")),
                str(r.params.get("text") or r.params.get("caption") or ""),
            )
            for r in emu.recorded
            if r.method.lower().startswith("send") and r.fault is None
        ]
        sends += [("vk", str(m.peer_id), m.text) for m in vk.sent]
        sends += [("sms", str(m["to"]), str(m["body"])) for m in list(sms.sent)]
        chats_of = {ch: [c for c in sent_in if channel_of(c) == ch] for ch in CHANNELS}
        ext_channel = {external_id(c): channel_of(c) for c in sent_in}
        report: list[str] = []
        lost_in: list[str] = []
        dup_in: dict[str, int] = {}
        lost_out: list[str] = []
        dup_out: dict[str, int] = {}
        bot_lost: dict[str, int] = {}
        order_broken: list[int] = []
        inbound_order_broken: list[int] = []
        extra_total = 0
        loaded: list[bool] = []
        committed: list[bool] = []
        for ch in CHANNELS:
            ext_ids = {external_id(c) for c in chats_of[ch]}
            mine = [r for r in rows if r.external_id in ext_ids]
            inbound = Counter(r.text for r in mine if r.direction == "in")
            expected_in = [t for c in chats_of[ch] for t in sent_in[c]]
            ch_lost_in = [t for t in expected_in if inbound[t] == 0]
            ch_dup_in = {t: n for t, n in inbound.items() if n > 1}
            ch_in_order = []
            for chat in chats_of[ch]:
                texts = sent_in[chat]
                got = [r.text for r in mine if r.direction == "in" and r.external_id == external_id(chat)]
                got = [t for t in got if t in set(texts)]
                if got != sorted(set(got), key=texts.index):
                    ch_in_order.append(chat)
            ch_sends = [(chat, text) for kind, chat, text in sends if kind == ch and chat in ext_ids]
            delivered = Counter(text for _, text in ch_sends if text.startswith("out-"))
            stored_out = [r.text for r in mine if r.direction == "out" and r.author != "bot"]
            accepted = [t for c in chats_of[ch] for t in replies.get(c, [])]
            ch_ambiguous = [t for t in ambiguous if channel_of(int(t.split("-")[1])) == ch]
            ch_lost_out = [t for t in stored_out if delivered[t] == 0]
            ch_dup_out = {t: n for t, n in delivered.items() if n > 1}
            ch_out_order = []
            for chat in chats_of[ch]:
                texts = replies.get(chat, [])
                first_seen: dict[str, int] = {}
                for i, (_, t) in enumerate(ch_sends):
                    if t in texts and t not in first_seen:
                        first_seen[t] = i
                if sorted(first_seen, key=first_seen.__getitem__) != [t for t in texts if t in first_seen]:
                    ch_out_order.append(chat)
            # The bot's answers: stored rows against the provider's sends of other texts, chat by chat (its
            # texts repeat, and SMS renders buttons into the text, so they are matched by count, not by text).
            bot_rows = Counter(r.external_id for r in mine if r.direction == "out" and r.author == "bot")
            bot_sends = Counter(chat for chat, text in ch_sends if not text.startswith("out-"))
            ch_bot_lost = {c: bot_rows[c] - bot_sends[c] for c in bot_rows if bot_rows[c] > bot_sends[c]}
            bot_extra = sum(max(0, bot_sends[c] - bot_rows[c]) for c in bot_sends)
            man_extra = sum(n - 1 for n in ch_dup_out.values())
            extra_total += bot_extra + man_extra
            report.append(
                f"  {ch}: inbound {len(expected_in)} sent, {sum(inbound.values())} stored, "
                f"{len(ch_lost_in)} lost, "
                f"{len(ch_dup_in)} duplicated, {len(ch_in_order)} chats out of order; "
                f"replies {len(accepted)} accepted (+{len(ch_ambiguous)} ambiguous API calls, "
                f"{sum(1 for t in ch_ambiguous if t in stored_out)} of them stored), "
                f"{len(stored_out)} stored, "
                f"{sum(1 for t in stored_out if delivered[t])} delivered, {len(ch_lost_out)} lost, "
                f"{man_extra} duplicates, {len(ch_out_order)} chats out of order; "
                f"bot {sum(bot_rows.values())} stored, {sum(bot_sends.values())} sent, "
                f"{sum(ch_bot_lost.values())} lost, {bot_extra} duplicates"
            )
            loaded.append(bool(expected_in and accepted))
            committed.append(set(accepted) <= set(stored_out))  # a 201 means committed
            lost_in += ch_lost_in
            dup_in.update(ch_dup_in)
            lost_out += ch_lost_out
            dup_out.update(ch_dup_out)
            bot_lost.update(ch_bot_lost)
            order_broken += ch_out_order
            inbound_order_broken += ch_in_order
        unknown = sorted({chat for _, chat, _ in sends} - set(ext_channel))
        failed = [r.text for r in rows if r.direction == "out" and r.delivery == "failed"]

        ci_log(  # the counts show in CI's log, passed or failed
            f"chaos: seed {SEED}; whole test {time.monotonic() - began:.0f}s, load {load_time:.0f}s, "
            f"drained in {drain_time:.0f}s; kills {dict(cluster.kills)}; "
            f"{len(failed)} failed, {extra_total} duplicate sends (ambiguous timeouts); "
            f"replies refused: {dict(refused)}; sent more than once: {dup_out}\n" + "\n".join(report)
        )
        assert all(loaded)  # the load really ran, both ways, on every channel
        assert all(committed)
        assert unknown == []  # nothing went to a chat nobody wrote from
        assert lost_in == [] and dup_in == {}
        assert lost_out == [] and failed == [] and bot_lost == {}
        assert all(c <= 2 for c in dup_out.values())  # at most one duplicate per ambiguous send
        assert extra_total <= cluster.kills["worker"]
        assert order_broken == [] and inbound_order_broken == []
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.stop_all)
        await emu.stop()
        await vk.stop()
        sms.stop()
        await engine.dispose()
        await asyncio.to_thread(services.drop_pg_database, url)
