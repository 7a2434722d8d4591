"""A broadcast to 300 customers through the Telegram emulator enforcing 30 sends per bot and 1 per chat in
any rolling second (429 past them): planned and queued by ``inbox.sales.broadcasts``, sent by the outbox
dispatcher. Every consenting customer gets exactly one copy, nobody gets two, customers without consent (none
recorded, or withdrawn) get none, no 429 is answered and no one-second window holds more than the limits.
Counts, not timings: the emulator records every accepted send.

300 sends at 30/s take about 10 s, on both databases: more than one send batch (``SEND_BATCH``) and more
than one dispatcher claim, the SKIP LOCKED batches included, over ten one-second windows at the bot's limit.
More recipients take the same code paths at 30 more per second of the run (``make bench`` sends to more)."""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.outbox import Dispatcher
from inbox.core.ratelimit import MemoryLimiter
from inbox.customer_card.consent import record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import BroadcastRecipient, ChannelAccount, Customer, Identity, Outbox, Thread, utcnow
from inbox.sales import broadcasts, segments
from inbox.sales.config import SalesConfig
from inbox.settings import Settings
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.integration import test_outbound_pacing as pacing

PER_BOT = 30
PER_CHAT = 1
CONSENTING = 300  # more than one send batch and one dispatcher claim (asserted below)
WITHOUT_CONSENT = 40  # as many more again have withdrawn theirs
FIRST_CHAT = 7_000_000
TEXT = "Распродажа: чай со скидкой 20%"


@dataclass
class Audience:
    consenting: set[str]  # Telegram chat ids
    refusing: set[str]  # no consent recorded, or withdrawn


async def populate(factory: SessionFactory, emu: TelegramEmulator, consenting: int) -> Audience:
    """``consenting`` Telegram customers with marketing consent, ``WITHOUT_CONSENT`` with none recorded and
    ``WITHOUT_CONSENT`` who agreed and then withdrew (the newest decision wins); one chat each."""
    total = consenting + 2 * WITHOUT_CONSENT
    audience = Audience(set(), set())
    earlier = utcnow()
    async with transaction(factory) as s:
        account = ChannelAccount(
            kind="telegram",
            name="broadcast",
            settings={"mode": "polling", "api_base": emu.base_url, "request_timeout": 5},
            secrets={"token": DEFAULT_TOKEN},
            state={},
        )
        s.add(account)
        customers = [Customer(name=f"Покупатель {n}", locale="ru", fields={}) for n in range(total)]
        s.add_all(customers)
        await s.flush()
        for n, customer in enumerate(customers):
            chat = str(FIRST_CHAT + n)
            s.add(Thread(customer_id=customer.id, last_inbound_channel="telegram"))
            s.add(Identity(kind="telegram", account_id=account.id, external_id=chat, customer_id=customer.id))
        await s.flush()
        for n, customer in enumerate(customers):
            chat = str(FIRST_CHAT + n)
            if n < consenting:
                await record_consent(s, customer.id, "telegram", True, "import", at=earlier)
                audience.consenting.add(chat)
            elif n < consenting + WITHOUT_CONSENT:
                audience.refusing.add(chat)
            else:
                await record_consent(s, customer.id, "telegram", True, "bot", at=earlier)
                await record_consent(s, customer.id, "telegram", False, "unsubscribe")
                audience.refusing.add(chat)
    return audience


async def broadcast_and_send(factory: SessionFactory, settings: Settings, emu: TelegramEmulator) -> int:
    """Plan a broadcast to everybody, queue it in batches, and let one dispatcher send the outbox empty.
    Returns how many copies were queued."""
    async with transaction(factory) as s:
        everybody = await segments.create_segment(s, "Все", conditions=[])
        b = await broadcasts.create_broadcast(s, segment_id=everybody.id, text=TEXT)
        await broadcasts.plan(s, b, SalesConfig())
    queued = 0
    while True:
        async with transaction(factory) as s:
            broadcast = await broadcasts.get_broadcast(s, b.id)
            handled, _events = await broadcasts.send_batch(s, broadcast, settings)
        if handled == 0:
            break
        queued += handled
    async with factory() as s:
        states = dict(
            (
                await s.execute(
                    select(BroadcastRecipient.state, func.count())
                    .where(BroadcastRecipient.broadcast_id == b.id)
                    .group_by(BroadcastRecipient.state)
                )
            ).all()
        )
        assert states.get("queued") == queued
        assert (await s.execute(select(func.count()).select_from(Outbox))).scalar_one() == queued
    hub = ChannelHub(factory, settings)
    dispatcher = Dispatcher(factory, hub, EventBus(None), settings, limiter=MemoryLimiter())
    try:
        await pacing.run_until_sent(factory, [dispatcher], queued)
    finally:
        await hub.close()
    return queued


def copies_by_chat(emu: TelegramEmulator) -> Counter[str]:
    return Counter(str(r.params.get("chat_id")) for r in emu.requests("sendMessage") if r.fault is None)


async def test_broadcast_to_300_customers_stays_under_the_limits_and_sends_each_once(
    factory: SessionFactory, settings: Settings
) -> None:
    consenting = CONSENTING
    claim = inspect.signature(Dispatcher.claim).parameters["limit"].default
    assert consenting > broadcasts.SEND_BATCH and consenting > 2 * claim  # several batches of each
    emu = TelegramEmulator()
    await emu.start()
    emu.enforce_limits(per_bot=PER_BOT, per_chat=PER_CHAT)
    try:
        audience = await populate(factory, emu, consenting)
        queued = await broadcast_and_send(factory, settings, emu)
    finally:
        await emu.stop()
    copies = copies_by_chat(emu)
    per_bot, per_chat = emu.max_in_window(1.0)
    print(
        f"\n{queued} queued, {sum(copies.values())} accepted by {len(copies)} chats, "
        f"{emu.rate_limited} answered 429, "
        f"at most {per_bot} per bot and {per_chat} per chat in any one second"
    )
    assert queued == consenting
    assert set(copies) == audience.consenting  # every consenting customer, nobody else
    assert max(copies.values()) == 1  # nobody twice
    assert not set(copies) & audience.refusing
    assert all(TEXT in str(r.params.get("text")) for r in emu.requests("sendMessage"))
    assert emu.rate_limited == 0
    assert per_bot <= PER_BOT
    assert per_chat <= PER_CHAT
