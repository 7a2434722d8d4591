"""One contract, every channel: each test runs over every adapter that has the behaviour, each against its
emulator speaking the provider's documented wire format (Telegram Bot API, VK Callback API, Twilio, SMTP and
the letters the IMAP reader hands over, the in-process demo). Like aiogram's storage tests, one class over
every backend; a new channel adds its harness (tests/contract/harness.py) and passes the same class."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import InboundProcessor, store_raw
from inbox.core.types import (
    Button,
    Channel,
    DeliveryReceipt,
    InboundCallback,
    InboundMessage,
    PermanentSendError,
    TransientSendError,
)
from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount, InboundEvent, Message
from inbox.settings import Settings
from tests.contract.harness import ACCOUNT_ID, JPEG, Harness

_provider_ids = itertools.count(7001)


def provider_id() -> str:
    return str(next(_provider_ids))


async def parse_all(channel: Channel, events: list) -> list:  # type: ignore[type-arg]
    return [item for ev in events for item in await channel.parse(ev)]


class TestChannelContract:
    @pytest.mark.feature("inbound_text")
    async def test_inbound_text_becomes_one_message_from_the_customer(
        self, harness: Harness, channel: Channel
    ) -> None:
        events = harness.inbound_text(channel, "Здравствуйте! Где мой заказ №1024?", provider_id())
        assert len(events) == 1 and events[0].key
        (item,) = await parse_all(channel, events)
        assert isinstance(item, InboundMessage)
        assert item.kind == harness.account().kind and item.account_id == ACCOUNT_ID
        assert item.external_user_id == harness.chat_id
        assert (item.text or "").strip() == "Здравствуйте! Где мой заказ №1024?"
        assert item.external_message_id and item.sent_at.tzinfo is not None

    @pytest.mark.feature("media")
    async def test_inbound_media_is_an_attachment_the_adapter_can_fetch(
        self, harness: Harness, channel: Channel
    ) -> None:
        (item,) = await parse_all(channel, harness.inbound_media(channel, JPEG))
        assert isinstance(item, InboundMessage) and len(item.attachments) == 1
        attachment = item.attachments[0]
        data = attachment.data if attachment.data is not None else await channel.fetch(attachment)
        assert data == JPEG

    @pytest.mark.feature("redelivery")
    async def test_a_redelivered_event_is_stored_once(
        self, harness: Harness, channel: Channel, factory: SessionFactory, settings: Settings
    ) -> None:
        account = harness.account()
        async with transaction(factory) as session:
            session.add(
                ChannelAccount(
                    id=ACCOUNT_ID,
                    kind=account.kind,
                    name=account.name,
                    settings=dict(account.settings),
                    secrets=dict(account.secrets),
                    state={},
                )
            )
        same = provider_id()
        first = harness.inbound_text(channel, "Повтор", same)
        again = harness.inbound_text(channel, "Повтор", same)  # the provider did not hear our answer
        assert [e.key for e in first] == [e.key for e in again]
        assert await store_raw(factory, ACCOUNT_ID, first) == 1
        assert await store_raw(factory, ACCOUNT_ID, again) == 0
        hub = ChannelHub(factory, settings)
        try:
            processor = InboundProcessor(factory, hub, EventBus(), settings)
            while await processor.process_batch():
                pass
        finally:
            await hub.close()
        async with factory() as session:
            assert (await session.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 1
            texts = list((await session.execute(select(Message.text))).scalars())
        assert [t.strip() for t in texts if t] == ["Повтор"]

    @pytest.mark.feature("send_ack")
    async def test_send_is_acknowledged_with_an_external_id(self, harness: Harness, channel: Channel) -> None:
        sent = await channel.send(harness.outbound("Ваш заказ №1024 собран."))
        assert sent.external_id

    @pytest.mark.feature("send")
    async def test_send_reaches_the_provider(self, harness: Harness, channel: Channel) -> None:
        first = await channel.send(harness.outbound("Ваш заказ №1024 собран."))
        second = await channel.send(harness.outbound("Курьер приедет завтра."))
        assert first.external_id and second.external_id and first.external_id != second.external_id
        assert harness.sent_texts() == ["Ваш заказ №1024 собран.", "Курьер приедет завтра."]

    @pytest.mark.feature("transient")
    async def test_a_transient_error_says_try_again_and_the_next_send_goes(
        self, harness: Harness, channel: Channel
    ) -> None:
        harness.fail_next_send("transient")
        with pytest.raises(TransientSendError):
            await channel.send(harness.outbound("Попытка"))
        assert harness.sent_texts() == []
        await channel.send(harness.outbound("Попытка"))
        assert harness.sent_texts() == ["Попытка"]

    @pytest.mark.feature("permanent")
    async def test_a_permanent_error_is_not_retried(self, harness: Harness, channel: Channel) -> None:
        harness.fail_next_send("permanent")
        with pytest.raises(PermanentSendError) as info:
            await channel.send(harness.outbound("Не дойдёт"))
        assert not isinstance(info.value, TransientSendError) and info.value.reason
        assert harness.sent_texts() == []

    @pytest.mark.feature("buttons")
    async def test_buttons_go_with_the_message(self, harness: Harness, channel: Channel) -> None:
        buttons = ((Button("Статус заказа", payload="status"), Button("Менеджер", payload="human")),)
        await channel.send(harness.outbound("Чем помочь?", buttons=buttons))
        assert harness.sent_texts() == ["Чем помочь?"]
        assert harness.sent_button_labels() == ["Статус заказа", "Менеджер"]
        (press,) = await parse_all(channel, harness.press(channel, "Менеджер"))
        assert isinstance(press, InboundCallback)  # the press comes back with the button's payload
        assert press.payload == "human" and press.external_user_id == harness.chat_id and press.callback_id

    @pytest.mark.feature("receipts")
    async def test_delivery_receipts_name_the_sent_message(self, harness: Harness, channel: Channel) -> None:
        sent = await channel.send(harness.outbound("Квитанция"))
        (item,) = await parse_all(channel, harness.receipt(channel, sent, "delivered"))
        assert isinstance(item, DeliveryReceipt)
        assert item.external_message_id == sent.external_id and item.state == "delivered"
        (failed,) = await parse_all(channel, harness.receipt(channel, sent, "undelivered"))
        assert isinstance(failed, DeliveryReceipt) and failed.state == "failed"
