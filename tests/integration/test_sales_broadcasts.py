"""Broadcasts on SQLite and PostgreSQL: planning is one statement that respects the consent record (opt-in,
newest decision wins), the preferred channel and VK's "the user allowed messages" rule; every copy carries
the unsubscribe of its channel; nobody is messaged twice; a "стоп" takes the customer out of the next one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from inbox.channels.email.compose import compose as compose_email
from inbox.core.events import Event, EventBus
from inbox.core.types import OutboundMessage
from inbox.customer_card.consent import current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import (
    Author,
    BroadcastRecipient,
    ChannelAccount,
    Direction,
    Message,
    Outbox,
    Thread,
    utcnow,
)
from inbox.sales import broadcasts, segments, unsubscribe
from inbox.sales.config import SalesConfig
from inbox.sales.runner import SalesRunner
from inbox.settings import Settings
from tests.sales_world import Shop, add_customer, base_shop


async def consent_world(factory: SessionFactory) -> Shop:
    """Who gets a broadcast to everybody (hand-computed):

    - Анна  telegram, consent telegram yes                      -> planned (telegram)
    - Борис vk, consent vk yes, wrote to the community           -> planned (vk)
    - Вера  email, consent email yes                            -> planned (email)
    - Глеб  sms via SMS.ru (no replies), consent sms yes         -> planned (sms)
    - Дина  telegram (last inbound) + email, consent email only  -> skipped: no consent on telegram
    - Жора  vk, consent vk yes, never wrote to the community     -> skipped: vk_not_allowed
    - Зоя   telegram, consent yes then no (newest wins)          -> skipped: no consent
    - Ира   no channel at all                                    -> skipped: no_channel
    """
    async with transaction(factory) as s:
        shop = await base_shop(s)
        sms = await s.get(ChannelAccount, shop.accounts["sms"])
        assert sms is not None
        sms.settings = {"provider": "smsru"}
        for account in (await s.execute(select(ChannelAccount))).scalars():
            account.enabled = True  # no adapter is built here: planning and queueing only
        anna = await add_customer(s, shop, "Анна", ("telegram",))
        boris = await add_customer(s, shop, "Борис", ("vk",))
        thread = (await s.execute(select(Thread).where(Thread.customer_id == boris))).scalar_one()
        s.add(
            Message(
                thread_id=thread.id,
                customer_id=boris,
                direction=Direction.IN,
                channel="vk",
                author=Author.CUSTOMER,
                text="Здравствуйте",
            )
        )
        vera = await add_customer(s, shop, "Вера", ("email",), email="vera@example.ru")
        gleb = await add_customer(s, shop, "Глеб", ("sms",), phone="+79990000004")
        dina = await add_customer(s, shop, "Дина", ("telegram", "email"), email="dina@example.ru")
        zhora = await add_customer(s, shop, "Жора", ("vk",))
        zoya = await add_customer(s, shop, "Зоя", ("telegram",))
        await add_customer(s, shop, "Ира", ())
        earlier = utcnow() - timedelta(days=3)
        for cid, channel in (
            (anna, "telegram"),
            (boris, "vk"),
            (vera, "email"),
            (gleb, "sms"),
            (dina, "email"),
            (zhora, "vk"),
        ):
            await record_consent(s, cid, channel, True, "import", at=earlier)
        await record_consent(s, zoya, "telegram", True, "bot", at=earlier)
        await record_consent(s, zoya, "telegram", False, "manager", at=earlier + timedelta(hours=1))
        return shop


async def recipients(
    factory: SessionFactory, shop: Shop, broadcast_id: int
) -> dict[str, tuple[str, str | None, str | None]]:
    names = {v: k for k, v in shop.customers.items()}
    async with factory() as s:
        rows = (
            await s.execute(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id))
        ).scalars()
        return {names[r.customer_id]: (r.state, r.channel, r.reason) for r in rows}


async def test_planning_respects_consent_channels_and_vk(factory: SessionFactory, settings: Settings) -> None:
    shop = await consent_world(factory)
    async with transaction(factory) as s:
        everybody = await segments.create_segment(s, "Все", conditions=[])
        b = await broadcasts.create_broadcast(
            s,
            segment_id=everybody.id,
            text="Скидка 10% на чай",
            buttons=[{"text": "Каталог", "url": "https://shop.example/tea"}],
        )
        written = await broadcasts.plan(s, b, SalesConfig())
        assert written == 8
        assert await broadcasts.plan(s, b, SalesConfig()) == 0  # planning again writes nobody twice
    assert await recipients(factory, shop, b.id) == {
        "Анна": ("planned", "telegram", None),
        "Борис": ("planned", "vk", None),
        "Вера": ("planned", "email", None),
        "Глеб": ("planned", "sms", None),
        "Дина": ("skipped", "telegram", "no_consent"),
        "Жора": ("skipped", "vk", "vk_not_allowed"),
        "Зоя": ("skipped", "telegram", "no_consent"),
        "Ира": ("skipped", None, "no_channel"),
    }
    # the consent condition of segments reads the same record
    async with factory() as s:
        q = segments.dynamic_query(
            segments.parse_conditions([{"field": "consent", "op": "given", "value": "telegram"}]),
            SalesConfig(),
        )
        assert set((await s.execute(q)).scalars()) == {shop.customers["Анна"]}
        q = segments.dynamic_query(
            segments.parse_conditions([{"field": "consent", "op": "given", "value": "any"}]), SalesConfig()
        )
        assert len(set((await s.execute(q)).scalars())) == 6  # all but Зоя and Ира

    async with transaction(factory) as s:
        handled, _events = await broadcasts.send_batch(s, b, settings, limit=3)
        assert handled == 3
        handled2, _ = await broadcasts.send_batch(s, b, settings)
        assert handled2 == 1
        assert (await broadcasts.send_batch(s, b, settings))[0] == 0
    async with factory() as s:
        sent = {
            m.channel: m
            for m in (await s.execute(select(Message).where(Message.direction == Direction.OUT))).scalars()
        }
        assert set(sent) == {"telegram", "vk", "email", "sms"}
        assert await s.scalar(select(func.count()).select_from(Outbox)) == 4
        for channel in ("telegram", "vk"):
            text = sent[channel].text or ""
            assert text.startswith("Скидка 10% на чай") and "«стоп»" in text
            rows = sent[channel].meta["buttons"]
            assert rows[0][0]["url"] == "https://shop.example/tea"
            assert rows[-1][0]["label"] == "Отписаться" and rows[-1][0]["payload"].startswith("unsub:")
        assert "/u/" in (sent["sms"].text or "") and "«стоп»" not in (
            sent["sms"].text or ""
        )  # SMS.ru: no replies
        email = sent["email"]
        assert email.meta["list_unsubscribe"] in (email.text or "")
        letter = compose_email(
            OutboundMessage(
                account_id=1,
                chat_id="vera@example.ru",
                text=email.text or "",
                idempotency_key="1",
                meta=email.meta,
            ),
            from_address="shop@example.ru",
        )
        assert letter["List-Unsubscribe"] == f"<{email.meta['list_unsubscribe']}>"
        assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = email.meta["list_unsubscribe"].rsplit("/", 1)[1]
        assert unsubscribe.read_token(settings.secret_key, token) == (shop.customers["Вера"], "email")
        st = await broadcasts.statistics(s, b)
        assert (st.recipients, st.queued, st.planned) == (8, 4, 0)
        assert st.skipped == {"no_consent": 2, "vk_not_allowed": 1, "no_channel": 1}
        assert st.delivery == {"queued": 4}


async def test_stop_reply_removes_the_customer_from_the_next_broadcast(
    factory: SessionFactory, settings: Settings
) -> None:
    shop = await consent_world(factory)
    runner = SalesRunner(factory, EventBus(), settings)
    anna = shop.customers["Анна"]
    async with transaction(factory) as s:
        thread = (await s.execute(select(Thread).where(Thread.customer_id == anna))).scalar_one()
        stop = Message(
            thread_id=thread.id,
            customer_id=anna,
            direction=Direction.IN,
            channel="telegram",
            author=Author.CUSTOMER,
            text="Стоп!",
        )
        other = Message(
            thread_id=thread.id,
            customer_id=anna,
            direction=Direction.IN,
            channel="telegram",
            author=Author.CUSTOMER,
            text="стоп-кран есть?",
        )
        s.add_all([stop, other])
    await runner.on_event(
        Event("message.new", thread_id=thread.id, message_id=other.id, data={"direction": "in"})
    )
    async with factory() as s:
        assert (await current_consent(s, anna))["telegram"].marketing is True  # not an unsubscribe
    await runner.on_event(
        Event("message.new", thread_id=thread.id, message_id=stop.id, data={"direction": "in"})
    )
    async with factory() as s:
        state = await current_consent(s, anna)
        assert state["telegram"].marketing is False and state["telegram"].source == "unsubscribe"
        confirm = (
            await s.execute(
                select(Message).where(Message.customer_id == anna, Message.direction == Direction.OUT)
            )
        ).scalar_one()
        assert confirm.channel == "telegram" and "отписаны" in (confirm.text or "")
    # the button of another copy unsubscribes Борис the same way
    token = unsubscribe.make_token(settings.secret_key, shop.customers["Борис"], "vk")
    from inbox.core.types import InboundCallback

    await runner.on_callback(
        InboundCallback(
            kind="vk",  # type: ignore[arg-type]
            account_id=shop.accounts["vk"],
            external_user_id=f"vk-{shop.customers['Борис']}",
            callback_id="cb1",
            payload=unsubscribe.BUTTON_PREFIX + token,
            at=utcnow(),
        )
    )
    async with transaction(factory) as s:
        everybody = await segments.create_segment(s, "Все", conditions=[])
        b = await broadcasts.create_broadcast(s, segment_id=everybody.id, text="Новинки")
        await broadcasts.plan(s, b, SalesConfig())
    planned = await recipients(factory, shop, b.id)
    assert planned["Анна"] == ("skipped", "telegram", "no_consent")
    assert planned["Борис"] == ("skipped", "vk", "no_consent")
    assert planned["Вера"] == ("planned", "email", None)


async def test_test_send_and_picture(factory: SessionFactory, settings: Settings) -> None:
    from inbox.core.files import store_bytes
    from inbox.models import Attachment

    shop = await consent_world(factory)
    stored = store_bytes(settings.data_dir, b"\x89PNG\r\n\x1a\n picture")
    async with transaction(factory) as s:
        everybody = await segments.create_segment(s, "Все", conditions=[])
        b = await broadcasts.create_broadcast(
            s,
            segment_id=everybody.id,
            text="С картинкой",
            image=f"path={stored.path};sha256={stored.sha256};size={stored.size};type=image/png;name=sale.png",
        )
        # to yourself: Зоя said no to marketing, but a test copy ignores consent and plans nobody
        message, _events = await broadcasts.test_send(s, b, shop.customers["Зоя"], settings)
        assert message.meta["test"] is True and message.channel == "telegram"
        assert (await s.execute(select(func.count()).select_from(BroadcastRecipient))).scalar_one() == 0
        await broadcasts.plan(s, b, SalesConfig())
        await broadcasts.send_batch(s, b, settings)
    async with factory() as s:
        pictures = (await s.execute(select(Attachment.filename, Attachment.content_type))).all()
        # the test copy and the four planned copies carry the picture, except SMS (Глеб)
        assert sorted(pictures) == [("sale.png", "image/png")] * 4


async def test_stop_in_a_processed_batch_unsubscribes_once(
    factory: SessionFactory, settings: Settings
) -> None:
    """``on_events`` (how `inbox serve` wires it): a batch's messages are read at once; only the «стоп» one
    unsubscribes, and a manager's «стоп» in the same batch does nothing."""
    shop = await consent_world(factory)
    runner = SalesRunner(factory, EventBus(), settings)
    anna, vera = shop.customers["Анна"], shop.customers["Вера"]
    async with transaction(factory) as s:
        thread = (await s.execute(select(Thread).where(Thread.customer_id == anna))).scalar_one()
        vera_thread = (await s.execute(select(Thread).where(Thread.customer_id == vera))).scalar_one()

        def msg(thread: Thread, customer: int, text: str, author: Author = Author.CUSTOMER) -> Message:
            direction = Direction.IN if author == Author.CUSTOMER else Direction.OUT
            return Message(
                thread_id=thread.id,
                customer_id=customer,
                direction=direction,
                channel="telegram",
                author=author,
                text=text,
            )

        rows = [
            msg(thread, anna, "стоп-кран есть?"),
            msg(vera_thread, vera, "Стоп", Author.MANAGER),
            msg(thread, anna, "Стоп!"),
        ]
        s.add_all(rows)
    news = [Event("message.new", m.thread_id, m.id, data={"direction": "in"}) for m in rows]
    await runner.on_events((*news, Event("thread.updated", thread_id=thread.id)))
    async with factory() as s:
        assert (await current_consent(s, anna))["telegram"].marketing is False
        assert all(c.marketing for c in (await current_consent(s, vera)).values())
        confirms = (
            await s.execute(
                select(Message).where(Message.customer_id == anna, Message.direction == Direction.OUT)
            )
        ).scalars()
        assert len(list(confirms)) == 1
