"""Corporate email through the real path on SQLite and PostgreSQL: dovecot -> EmailChannel.sync_once ->
store_raw -> InboundProcessor -> messages (conversations, order links), and answers from the thread ->
outbox -> Dispatcher -> EmailChannel.send -> aiosmtpd with the right threading headers."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inbox.channels.email.adapter import EmailChannel
from inbox.channels.email.links import OrderLinkError, set_order_link
from inbox.channels.email.reply import AutoAnswerRefused, email_reply_meta, may_answer_automatically
from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import InboundProcessor, store_raw
from inbox.core.outbox import Dispatcher, Draft, enqueue
from inbox.core.security import hash_password
from inbox.core.types import RawEvent
from inbox.db import SessionFactory, transaction
from inbox.models import Author, ChannelAccount, Customer, Manager, Message, Order, Outbox, Thread
from inbox.settings import Settings
from inbox.workers import DbPollState
from tests.dovecot import Dovecot
from tests.integration.email_conftest import SmtpServer, make_account
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.email_conftest import smtp_server as smtp_server
from tests.server import threaded_server

SHOP = "shop@romashka.ru"


def letter(
    mid: str,
    subject: str,
    body: str,
    sender: str = "Анна Смирнова <anna@example.org>",
    date: str = "Mon, 23 Nov 2026 10:00:00 +0300",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SHOP
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = f"<{mid}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


@dataclass
class Mailbox:
    """The whole inbound and outbound stack for one email account."""

    factory: SessionFactory
    dovecot: Dovecot
    smtp: SmtpServer
    account_id: int
    hub: ChannelHub
    processor: InboundProcessor
    dispatcher: Dispatcher

    async def sync(self) -> int:
        channel = await self.hub.get(self.account_id)
        assert isinstance(channel, EmailChannel)

        async def sink(events: list[RawEvent]) -> None:
            await store_raw(self.factory, self.account_id, events)

        summary = await channel.sync_once(sink, DbPollState(self.factory, self.account_id))
        while await self.processor.process_batch():
            pass
        return summary.fetched

    async def deliver(self, *raws: bytes) -> None:
        for raw in raws:
            self.dovecot.deliver(raw)
        await self.sync()

    async def dispatch(self) -> None:
        while await self.dispatcher.dispatch_once():
            pass

    async def by_mid(self, mid: str) -> Message:
        async with self.factory() as session:
            row = (await session.execute(select(Message).where(Message.external_id == mid))).scalar_one()
            return row


@pytest.fixture
async def mailbox(
    factory: SessionFactory,
    settings: Settings,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
) -> Any:
    cfg = make_account(dovecot, smtp_server.port)
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="email", name="shop mail", settings=cfg.settings, secrets=cfg.secrets, state={}
        )
        session.add(row)
        await session.flush()
        account_id = row.id
    hub = ChannelHub(factory, settings)
    bus = EventBus()
    box = Mailbox(
        factory,
        dovecot,
        smtp_server,
        account_id,
        hub,
        InboundProcessor(factory, hub, bus, settings),
        Dispatcher(factory, hub, bus, settings),
    )
    yield box
    await hub.close()


def sent_letters(smtp: SmtpServer) -> list[EmailMessage]:
    out = []
    for r in smtp.handler.received:
        parsed = message_from_bytes(r.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(parsed)
    return out


async def add_order(factory: SessionFactory, customer_id: int, number: int) -> int:
    async with transaction(factory) as session:
        thread = (
            await session.execute(select(Thread).where(Thread.customer_id == customer_id))
        ).scalar_one_or_none()
        order = Order(
            number=number, customer_id=customer_id, thread_id=thread.id if thread else None, status="new"
        )
        session.add(order)
        await session.flush()
        return order.id


async def test_reply_chain_is_grouped_into_conversations(mailbox: Mailbox) -> None:
    await mailbox.deliver(
        letter("a1@example.org", "Размер платья", "Какой размер выбрать?"),
        letter(
            "d2@example.org",
            "Re: Возврат",
            "Это ответ, пришедший раньше письма",
            References="<d1@example.org>",
        ),
        letter("b1@example.org", "Доставка", "Сколько стоит доставка?"),
        letter(
            "a2@example.org",
            "Re: Размер платья",
            "Уточню: рост 170",
            In_Reply_To="<a1@example.org>",
            References="<a1@example.org>",
        ),
        letter("c1@example.org", "RE: Доставка", "Письмо без заголовков ответа"),
        letter(
            "a3@example.org",
            "Re: Re: Размер платья",
            "И ещё вопрос",
            In_Reply_To="<a2@example.org>",
            References="<a1@example.org> <a2@example.org>",
        ),
        letter("d1@example.org", "Возврат", "Хочу вернуть товар"),
    )
    a1, a2, a3 = [await mailbox.by_mid(f"a{n}@example.org") for n in (1, 2, 3)]
    b1, c1 = await mailbox.by_mid("b1@example.org"), await mailbox.by_mid("c1@example.org")
    d1, d2 = await mailbox.by_mid("d1@example.org"), await mailbox.by_mid("d2@example.org")
    assert len({a1.thread_id, b1.thread_id, d1.thread_id}) == 1  # one customer, one thread
    assert a1.email_conversation == a2.email_conversation == a3.email_conversation == "mid:a1@example.org"
    assert b1.email_conversation == c1.email_conversation  # joined by subject, headers were lost
    assert d1.email_conversation == d2.email_conversation == "mid:d1@example.org"  # out of order
    assert len({a1.email_conversation, b1.email_conversation, d1.email_conversation}) == 3
    assert a2.meta["email"]["parent"]["id"] == a1.id and a3.meta["email"]["parent"]["id"] == a2.id
    assert "parent" not in a1.meta["email"]
    # a subject line wherever the conversation changes from the previous letter of the thread
    ordered = sorted((a1, a2, a3, b1, c1, d1, d2), key=lambda m: m.id)
    previous = [None, *(m.email_conversation for m in ordered[:-1])]
    assert [m.meta["email"]["conversation_start"] for m in ordered] == [
        prev != m.email_conversation for prev, m in zip(previous, ordered, strict=True)
    ]
    assert ordered[0].meta["email"]["conversation_start"] is True


async def test_answer_from_thread_threads_and_tags_the_order(mailbox: Mailbox) -> None:
    await mailbox.deliver(letter("a1@example.org", "Платье", "Здравствуйте, есть размер M?"))
    a1 = await mailbox.by_mid("a1@example.org")
    order_id = await add_order(mailbox.factory, a1.customer_id, 1042)
    await mailbox.deliver(
        letter(
            "a2@example.org",
            "Re: Платье",
            "Оформила заказ #1042, когда отправите?",
            In_Reply_To="<a1@example.org>",
            References="<a1@example.org>",
        )
    )
    a2 = await mailbox.by_mid("a2@example.org")
    assert a2.order_id == order_id and a2.meta["order_link"]["how"] == "number"

    async with transaction(mailbox.factory) as session:
        thread = await session.get(Thread, a2.thread_id)
        assert thread is not None
        reply = await enqueue(session, thread, Draft(text="Отправим завтра.", channel="email"))
        reply_id = reply.id
    await mailbox.dispatch()
    (sent,) = sent_letters(mailbox.smtp)
    assert sent["Subject"] == "Re: Платье [#1042]"
    assert sent["In-Reply-To"] == "<a2@example.org>"
    assert sent["References"] == "<a1@example.org> <a2@example.org>"
    assert sent["To"] == "anna@example.org" and "Auto-Submitted" not in sent
    async with mailbox.factory() as session:
        out = await session.get(Message, reply_id)
        assert out is not None and out.delivery == "sent" and out.order_id == order_id
        assert out.email_conversation == a2.email_conversation
        assert out.external_id == str(sent["Message-ID"]).strip("<>")
        # a second answer is not "Re: Re:" and the tag is not doubled
        meta = await email_reply_meta(session, a2.thread_id)
    assert meta["subject"] == "Re: Платье [#1042]"

    # the customer answers our letter: it joins the conversation and names our letter as its parent
    await mailbox.deliver(
        letter(
            "a3@example.org",
            "Re: Платье [#1042]",
            "Спасибо!",
            In_Reply_To=str(sent["Message-ID"]),
            References=f"<a1@example.org> <a2@example.org> {sent['Message-ID']}",
        )
    )
    a3 = await mailbox.by_mid("a3@example.org")
    assert a3.email_conversation == a2.email_conversation
    assert a3.meta["email"]["parent"] == {**a3.meta["email"]["parent"], "id": reply_id, "direction": "out"}
    assert a3.meta["email"]["conversation_start"] is False


async def test_order_links_own_number_header_reference_and_foreign_number(mailbox: Mailbox) -> None:
    await mailbox.deliver(
        letter("hello@example.org", "Привет", "Первое письмо"),
        letter("b-hello@example.net", "Вопрос", "Я Борис", sender="Борис <boris@example.net>"),
    )
    anna = (await mailbox.by_mid("hello@example.org")).customer_id
    boris = (await mailbox.by_mid("b-hello@example.net")).customer_id
    own = await add_order(mailbox.factory, anna, 1042)
    await add_order(mailbox.factory, boris, 2077)
    notice_order = await add_order(mailbox.factory, anna, 3001)

    # we write to Anna about order 3001 (a notification from the system: marked automatic)
    async with transaction(mailbox.factory) as session:
        thread = (await session.execute(select(Thread).where(Thread.customer_id == anna))).scalar_one()
        notice = await enqueue(
            session,
            thread,
            Draft(
                text="Ваш заказ передан в доставку.",
                author=Author.SYSTEM,
                channel="email",
                order_id=notice_order,
                meta={"subject": "Заказ передан в доставку"},
            ),
        )
        notice_id = notice.id
    await mailbox.dispatch()
    (sent,) = sent_letters(mailbox.smtp)
    assert sent["Auto-Submitted"] == "auto-generated" and sent["Subject"] == "Заказ передан в доставку"

    await mailbox.deliver(
        letter("n1@example.org", "Вопрос по заказу №1042", "Когда привезёте?"),
        letter("n2@example.org", "Чужой номер", "А что с заказом 2077?"),
        letter(
            "n3@example.org",
            "Re: Заказ передан в доставку",
            "Спасибо, жду.",
            In_Reply_To=str(sent["Message-ID"]),
            References=str(sent["Message-ID"]),
        ),
        letter("n4@example.org", "Без номера", "Просто вопрос про #99999"),
    )
    n1, n2, n3, n4 = [await mailbox.by_mid(f"n{i}@example.org") for i in range(1, 5)]
    assert n1.order_id == own and n1.meta["order_link"] == {"how": "number", "number": 1042, "order_id": own}
    assert n2.order_id is None and n2.meta["order_warnings"] == [{"number": 2077, "reason": "other_customer"}]
    assert n3.order_id == notice_order and n3.meta["order_link"]["how"] == "header"
    assert n3.meta["email"]["parent"]["id"] == notice_id
    assert n4.order_id is None and "order_warnings" not in n4.meta  # no such order: nothing to flag

    # manual link and unlink, and a refusal for another customer's order
    async with transaction(mailbox.factory) as session:
        foreign = (await session.execute(select(Order.id).where(Order.number == 2077))).scalar_one()
        with pytest.raises(OrderLinkError, match="another customer"):
            await set_order_link(session, n2.id, foreign)
    async with transaction(mailbox.factory) as session:
        events = await set_order_link(session, n2.id, own, manager_id=None)
    assert events[0].message_id == n2.id
    async with mailbox.factory() as session:
        row = await session.get(Message, n2.id)
        assert row is not None and row.order_id == own and row.meta["order_link"]["how"] == "manual"
        assert "order_warnings" not in row.meta
    async with transaction(mailbox.factory) as session:
        await set_order_link(session, n1.id, None)
    async with mailbox.factory() as session:
        row = await session.get(Message, n1.id)
        assert row is not None and row.order_id is None and row.meta["order_link"]["how"] == "unlinked"


async def test_custom_order_pattern_per_mailbox(mailbox: Mailbox) -> None:
    async with transaction(mailbox.factory) as session:
        row = await session.get(ChannelAccount, mailbox.account_id)
        assert row is not None
        row.settings = {**row.settings, "order_pattern": r"\bORD-(\d+)\b"}
    await mailbox.deliver(letter("p0@example.org", "Привет", "Первое письмо"))
    anna = (await mailbox.by_mid("p0@example.org")).customer_id
    order_id = await add_order(mailbox.factory, anna, 5550)
    await mailbox.deliver(
        letter("p1@example.org", "ORD-5550", "где он?"), letter("p2@example.org", "#5550", "где он?")
    )
    assert (await mailbox.by_mid("p1@example.org")).order_id == order_id
    assert (await mailbox.by_mid("p2@example.org")).order_id is None  # the default pattern is replaced


async def test_auto_reply_is_badged_and_never_answered_by_a_bot(mailbox: Mailbox) -> None:
    await mailbox.deliver(letter("q1@example.org", "Счёт", "Пришлите счёт, пожалуйста"))
    await mailbox.deliver(
        letter(
            "auto1@example.org",
            "Автоответ: Re: Счёт",
            "Я в отпуске до понедельника.",
            In_Reply_To="<q1@example.org>",
            References="<q1@example.org>",
            Auto_Submitted="auto-replied",
        )
    )
    q1, auto = await mailbox.by_mid("q1@example.org"), await mailbox.by_mid("auto1@example.org")
    assert auto.meta["auto"] is True and not may_answer_automatically(auto)
    assert may_answer_automatically(q1)
    async with transaction(mailbox.factory) as session:
        thread = await session.get(Thread, auto.thread_id)
        assert thread is not None
        with pytest.raises(AutoAnswerRefused):
            await enqueue(session, thread, Draft(text="Бот: чем помочь?", author=Author.BOT, channel="email"))
    async with mailbox.factory() as session:
        assert (await session.execute(select(func.count()).select_from(Outbox))).scalar_one() == 0
    # a manager's answer goes to the customer's own letter, not to the auto-reply
    async with transaction(mailbox.factory) as session:
        thread = await session.get(Thread, auto.thread_id)
        assert thread is not None
        await enqueue(session, thread, Draft(text="Счёт во вложении.", channel="email"))
    await mailbox.dispatch()
    (sent,) = sent_letters(mailbox.smtp)
    assert sent["In-Reply-To"] == "<q1@example.org>" and sent["Subject"] == "Re: Счёт"


async def test_reply_threads_onto_the_last_letter_a_person_wrote(mailbox: Mailbox) -> None:
    """The newest letters of the thread are an auto-reply in a conversation of its own (no threading
    headers) and bulk mail: the manager's answer still goes to the customer's own letter."""
    await mailbox.deliver(letter("r1@example.org", "Счёт", "Пришлите счёт, пожалуйста"))
    await mailbox.deliver(
        letter(
            "auto2@example.org",
            "Автоответ: Счёт",
            "Я в отпуске до понедельника.",
            date="Mon, 23 Nov 2026 10:05:00 +0300",
            Auto_Submitted="auto-replied",
        ),
        letter(
            "bulk2@example.org",
            "Новости недели",
            "Рассылка",
            date="Mon, 23 Nov 2026 10:06:00 +0300",
            Precedence="bulk",
        ),
    )
    r1, auto, bulk = [
        await mailbox.by_mid(m) for m in ("r1@example.org", "auto2@example.org", "bulk2@example.org")
    ]
    assert auto.meta["auto"] is True and bulk.meta["auto"] is True and r1.thread_id == auto.thread_id
    async with mailbox.factory() as session:
        meta = await email_reply_meta(session, r1.thread_id)
        assert meta["in_reply_to"] == "r1@example.org" and meta["subject"] == "Re: Счёт"
        chosen = await email_reply_meta(session, r1.thread_id, reply_to=auto.id)  # picked by mistake
        assert chosen["in_reply_to"] == "r1@example.org"
    async with transaction(mailbox.factory) as session:
        thread = await session.get(Thread, r1.thread_id)
        assert thread is not None
        await enqueue(session, thread, Draft(text="Счёт во вложении.", channel="email"))
    await mailbox.dispatch()
    (sent,) = sent_letters(mailbox.smtp)
    assert sent["In-Reply-To"] == "<r1@example.org>" and sent["Subject"] == "Re: Счёт"
    assert "auto2@example.org" not in str(sent["References"])


async def test_merged_customer_orders_count_as_own(mailbox: Mailbox) -> None:
    await mailbox.deliver(letter("m0@example.org", "Привет", "Первое письмо"))
    anna = (await mailbox.by_mid("m0@example.org")).customer_id
    async with transaction(mailbox.factory) as session:
        old = Customer(name="Анна (старый профиль)", merged_into_id=anna)
        session.add(old)
        await session.flush()
        old_id = old.id
    order_id = await add_order(mailbox.factory, old_id, 7777)
    await mailbox.deliver(letter("m1@example.org", "Заказ #7777", "Где он?"))
    assert (await mailbox.by_mid("m1@example.org")).order_id == order_id


def html_letter(mid: str, subject: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Анна Смирнова <anna@example.org>"
    msg["To"] = SHOP
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 11:00:00 +0300"
    msg["Message-ID"] = f"<{mid}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Нужен размер M.\n\n-- \nАнна\n\n> Добрый день! Какой размер нужен?\n> Магазин Ромашка\n")
    msg.add_alternative(
        "<p>Нужен размер <b>M</b>.</p><script>alert(1)</script>"
        '<img src="https://tracker.example/pixel.gif"><blockquote>Добрый день!</blockquote>',
        subtype="html",
    )
    return msg.as_bytes()


def signed_in(base: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10, follow_redirects=False)
    client.get("/login")
    token = client.cookies["csrftoken"]
    r = client.post("/login", data={"email": email, "password": password, "_csrf_token": token})
    assert r.status_code in (302, 303), r.text
    client.headers["x-csrftoken"] = client.cookies["csrftoken"]  # a new token comes with the new session
    return client


async def test_thread_page_letter_html_order_link_and_reply_to_a_chosen_letter(
    mailbox: Mailbox, settings: Settings
) -> None:
    await mailbox.deliver(
        html_letter("h1@example.org", "Платье"),
        letter("x1@example.net", "Привет", "Я Борис", sender="Борис <boris@example.net>"),
    )
    h1 = await mailbox.by_mid("h1@example.org")
    boris = (await mailbox.by_mid("x1@example.net")).customer_id
    own = await add_order(mailbox.factory, h1.customer_id, 1042)
    foreign = await add_order(mailbox.factory, boris, 2077)
    await mailbox.deliver(
        letter(
            "h2@example.org",
            "Re: Платье",
            "И ещё: что с заказом #2077?",
            In_Reply_To="<h1@example.org>",
            References="<h1@example.org>",
        ),
        letter("h3@example.org", "Автоответ", "Я в отпуске", Auto_Submitted="auto-replied"),
    )
    h2, h3 = await mailbox.by_mid("h2@example.org"), await mailbox.by_mid("h3@example.org")
    async with transaction(mailbox.factory) as session:
        session.add(Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123")))

    with threaded_server(settings, run_workers=False) as base:
        client = signed_in(base, "olga@shop.ru", "olga-pass-123")
        page = client.get(f"/threads/{h1.thread_id}").text
        assert page.count('class="email-conversation"') == 2  # Платье, then the auto-reply
        assert "✉ Платье" in page and f'href="#msg-{h1.id}"' in page  # h2 answers h1
        assert "Нужен размер M." in page and "Показать письмо целиком" in page
        assert '<iframe sandbox="" loading="lazy"' in page and f"/messages/{h1.id}/email.html" in page
        assert 'class="badge auto"' in page and "заказ #2077 другого клиента" in page
        assert "<script>alert(1)</script>" not in page

        html = client.get(f"/messages/{h1.id}/email.html")
        assert html.status_code == 200
        csp = html.headers["content-security-policy"]
        assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "img-src data:" in csp
        assert "<b>M</b>" in html.text and "<script" not in html.text
        assert client.get(f"/messages/{h2.id}/email.html").status_code == 404  # plain-text letter

        form = client.get(f"/messages/{h2.id}/order").text
        assert f'value="{own}"' in form and f'value="{foreign}"' not in form
        r = client.post(f"/messages/{h2.id}/order", data={"order_id": str(foreign)})
        assert r.status_code == 409
        r = client.post(f"/messages/{h2.id}/order", data={"order_id": str(own)})
        assert r.status_code in (302, 303)
        r = client.post(
            f"/messages/{h2.id}/order", data={"order_id": str(own)}, headers={"HX-Request": "true"}
        )
        assert r.status_code == 200 and f'id="msg-{h2.id}"' in r.text and "#1042" in r.text

        # answer the first letter although a later one exists: threading follows the manager's choice
        r = client.post(
            f"/threads/{h1.thread_id}/reply",
            files={
                "text": (None, "Размер M есть."),
                "channel": (None, "email"),
                "reply_to": (None, str(h1.id)),
            },
        )
        assert r.status_code in (302, 303), r.text
        bad = client.post(
            f"/threads/{h1.thread_id}/reply",
            files={"text": (None, "x"), "channel": (None, "email"), "reply_to": (None, "999999")},
        )
        assert bad.status_code == 400
    await mailbox.dispatch()
    (sent,) = sent_letters(mailbox.smtp)
    # the latest inbound letter of h1's conversation is h2 (h3, the auto-reply, is its own conversation)
    assert sent["In-Reply-To"] == "<h2@example.org>"
    assert sent["References"] == "<h1@example.org> <h2@example.org>"
    assert sent["Subject"] == "Re: Платье [#1042]"
    async with mailbox.factory() as session:
        row = await session.get(Message, h2.id)
        assert row is not None and row.order_id == own
    assert h3.meta["auto"] is True
