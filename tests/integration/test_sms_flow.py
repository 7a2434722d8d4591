"""SMS through the whole stack (Twilio wire format): signed inbound webhook, forged signatures refused,
the answer sent through the gateway, and delivery receipts moving the message's state, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.outbox import Draft, enqueue
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, Customer, InboundEvent, Message, Thread
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator
from tests.integration.test_telegram_flow import eventually, messages
from tests.server import threaded_server

PHONE = "+79035550123"


@pytest.fixture
def sms() -> Iterator[SMSEmulator]:
    emu = SMSEmulator().start()
    try:
        yield emu
    finally:
        emu.stop()


async def test_twilio_inbound_answer_and_receipts(
    factory: SessionFactory, settings: Settings, sms: SMSEmulator
) -> None:
    with threaded_server(settings) as base:
        async with transaction(factory) as session:
            row = ChannelAccount(
                kind="sms",
                name="sms",
                state={},
                settings={
                    "provider": "twilio",
                    "from": "+15005550006",
                    "api_base": sms.base_url,
                    "public_url": base,
                },
                secrets={"account_sid": sms.twilio_sid, "auth_token": sms.twilio_token},
            )
            session.add(row)
            await session.flush()
            account_id = row.id
        url = f"{base}/webhooks/sms/{account_id}"
        forged = await asyncio.to_thread(
            sms.fire_twilio_inbound, url, sender=PHONE, to="+15005550006", body="подделка", forge=True
        )
        assert forged.status in (401, 403)
        async with factory() as session:
            assert (await session.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 0
        fired = await asyncio.to_thread(
            sms.fire_twilio_inbound, url, sender=PHONE, to="+15005550006", body="Можно продлить хранение?"
        )
        assert fired.status == 200 and "<Response" in fired.body

        async def one_message() -> list[Message] | None:
            rows = await messages(factory)
            return rows if rows else None

        rows = await eventually(one_message)
        assert rows[0].text == "Можно продлить хранение?"
        async with transaction(factory) as session:
            customer = (await session.execute(select(Customer))).scalar_one()
            assert (
                customer.phone == PHONE and customer.phone_verified
            )  # the sender is a vouched contact point
            thread = (await session.execute(select(Thread))).scalar_one()
            out = await enqueue(session, thread, Draft(text="Да, продлим до пятницы"))

        async def sent_state() -> str | None:
            async with factory() as session:
                msg = await session.get(Message, out.id)
            return msg.delivery if msg and msg.delivery != "queued" else None

        assert await eventually(sent_state) == "sent"
        # bots on (the default): the bot may have answered the question too; the manager's SMS is ours
        (ours,) = [s for s in sms.sent if s["body"] == "Да, продлим до пятницы"]
        assert ours["to"] == PHONE and all(s["to"] == PHONE for s in sms.sent)
        sid = ours["sid"]
        for _ in range(2):  # a repeated receipt is a no-op
            receipt = await asyncio.to_thread(sms.fire_twilio_status, sid, "delivered")
            assert receipt.status == 200

        async def delivered() -> bool:
            async with factory() as session:
                msg = await session.get(Message, out.id)
            return bool(msg and msg.delivery == "delivered")

        await eventually(delivered)
        bad = await asyncio.to_thread(sms.fire_twilio_status, sid, "delivered", forge=True)
        assert bad.status in (401, 403)
        async with httpx.AsyncClient(timeout=5) as client:
            nope = await client.post(f"{base}/webhooks/sms/99999", data={"From": PHONE})
            assert nope.status_code == 404
