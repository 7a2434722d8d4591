"""The website widget over real HTTP (uvicorn) on SQLite and PostgreSQL: the loader's caching, the origin
allow-list, visitor tokens, one visitor never reading another's data, rate limits and size limits, live
updates, the signed customer id, an email confirmation that joins the visitor to an existing customer
(the code travels by the shop's real mailbox: aiosmtpd + dovecot), and the marketing consent box."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inbox.channels.widget.config import WidgetConfig
from inbox.channels.widget.tokens import Visitor, read_visitor_token, sign_user, visitor_token
from inbox.core.outbox import Draft, enqueue
from inbox.customer_card.consent import current_consent
from inbox.db import SessionFactory, transaction
from inbox.keys import Keyring
from inbox.models import ChannelAccount, Customer, Identity, Message, Thread
from inbox.settings import Settings
from tests.dovecot import Dovecot
from tests.integration.email_conftest import SmtpServer, make_account
from tests.integration.email_conftest import dovecot as dovecot
from tests.integration.email_conftest import smtp_server as smtp_server
from tests.server import threaded_server

SHOP = "https://shop.example"
SECRET = "widget-signing-secret"


async def add_widget(factory: SessionFactory, name: str, key: str, **extra: Any) -> int:
    cfg = WidgetConfig(key=key, origins=(SHOP, "http://127.0.0.1:9"))
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="widget",
            name=name,
            settings={**cfg.as_settings(), **extra},
            secrets={"secret": SECRET},
            state={},
        )
        session.add(row)
        await session.flush()
        return row.id


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


class Browser:
    """One visitor's browser on the shop's site: an Origin header and the token it keeps."""

    def __init__(self, client: httpx.AsyncClient, key: str, origin: str = SHOP) -> None:
        self.client, self.key, self.origin = client, key, origin
        self.token = ""

    def headers(self) -> dict[str, str]:
        return {"Origin": self.origin, "Authorization": f"Bearer {self.token}"}

    async def start(self, **body: Any) -> httpx.Response:
        r = await self.client.post(
            "/widget/session", params={"key": self.key}, json=body, headers={"Origin": self.origin}
        )
        if r.status_code == 200:
            self.token = r.json()["token"]
        return r

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.client.post(
            f"/widget/{path}", params={"key": self.key}, json=body, headers=self.headers()
        )

    async def history(self, after: int = 0) -> list[dict[str, Any]]:
        r = await self.client.get(
            "/widget/history", params={"key": self.key, "after": after}, headers=self.headers()
        )
        assert r.status_code == 200, r.text
        messages: list[dict[str, Any]] = r.json()["messages"]
        return messages


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with threaded_server(settings) as base:
        yield base


async def test_loader_is_served_with_caching_headers(factory: SessionFactory, server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        r = await client.get("/widget.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/javascript")
        assert "max-age=" in r.headers["cache-control"] and r.headers["etag"]
        assert "attachShadow" in r.text
        again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert "set-cookie" not in r.headers  # outside the managers' session middleware


async def test_origin_key_and_token_are_checked(factory: SessionFactory, server: str) -> None:
    await add_widget(factory, "site", "key-one")
    other_id = await add_widget(factory, "other site", "key-two")
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        evil = Browser(client, "key-one", origin="https://evil.example")
        r = await evil.start()
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        assert (await client.post("/widget/session", json={}, headers={"Origin": SHOP})).status_code == 400
        assert (await Browser(client, "no-such-key").start()).status_code == 404
        pre = await client.options(
            "/widget/send",
            params={"key": "key-one"},
            headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
        )
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == SHOP
        assert "authorization" in pre.headers["access-control-allow-headers"]

        anna = Browser(client, "key-one")
        r = await anna.start(lang="ru-RU")
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["access-control-allow-origin"] == SHOP
        assert body["locale"] == "ru" and body["strings"]["send"] == "Отправить"
        assert (await Browser(client, "key-one").start(lang="en")).json()["strings"]["send"] == "Send"
        assert "set-cookie" not in r.headers and "csrftoken" not in r.headers.get("set-cookie", "")

        # No token, a tampered token, a token of another widget key: refused.
        assert (
            await client.get("/widget/history", params={"key": "key-one"}, headers={"Origin": SHOP})
        ).status_code == 401
        tampered = anna.token[:-1] + ("0" if anna.token[-1] != "0" else "1")
        forged = Browser(client, "key-one")
        forged.token = tampered
        assert (await forged.post("send", {"id": "x1", "text": "hi"})).status_code == 401
        other = Browser(client, "key-two")
        other.token = anna.token
        assert (await other.post("send", {"id": "x2", "text": "hi"})).status_code == 401
        signed_elsewhere = visitor_token(Keyring("another-secret-key-0123"), Visitor(other_id, "v:abc"))
        other.token = signed_elsewhere
        assert (await other.post("send", {"id": "x3", "text": "hi"})).status_code == 401
        # The visitor's own token is accepted by the same key; a returning browser keeps its visitor.
        assert (await anna.post("send", {"id": "ok-1", "text": "hi"})).status_code == 202
        again = Browser(client, "key-one")
        await again.start(token=anna.token)
        assert read_visitor_token(Keyring("test-secret-key-0123456789"), again.token) == read_visitor_token(
            Keyring("test-secret-key-0123456789"), anna.token
        )


async def test_visitors_chat_live_and_never_see_each_other(
    factory: SessionFactory, settings: Settings, server: str
) -> None:
    account_id = await add_widget(factory, "site", "key-live")
    async with httpx.AsyncClient(base_url=server, timeout=20) as client:
        anna, boris = Browser(client, "key-live"), Browser(client, "key-live")
        await anna.start(lang="ru")
        await boris.start(lang="ru")

        # Anna uploads a picture and writes; Boris writes too.
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 200
        up = await client.post(
            "/widget/upload",
            params={"key": "key-live"},
            content=png,
            headers={**anna.headers(), "Content-Type": "image/png", "X-Filename": "photo%201.png"},
        )
        assert up.status_code == 200, up.text
        ref = up.json()["ref"]
        assert (await boris.post("send", {"id": "b-steal", "attachments": [ref]})).status_code == 400
        assert (
            await anna.post("send", {"id": "a-1", "text": "Есть платье в горошек?", "attachments": [ref]})
        ).status_code == 202
        assert (await boris.post("send", {"id": "b-1", "text": "Секрет Бориса"})).status_code == 202

        async def anna_sees_her_message_and_the_bot() -> list[dict[str, Any]] | None:
            msgs = await anna.history()
            mine = [m for m in msgs if m["dir"] == "in"]
            bot = [m for m in msgs if m["dir"] == "out"]
            return msgs if mine and bot else None

        msgs = await eventually(anna_sees_her_message_and_the_bot)
        mine = next(m for m in msgs if m["dir"] == "in")
        assert mine["ext"] == "a-1" and mine["text"] == "Есть платье в горошек?"
        assert mine["attachments"][0]["name"] == "photo 1.png"
        bot = next(m for m in msgs if m["dir"] == "out")
        assert bot["author"] == "bot" and any(row for row in bot["buttons"])  # the bot's menu has buttons
        assert all("Бориса" not in m["text"] for m in msgs)

        # Boris's token reads nothing of Anna's: not her history, not her file.
        boris_msgs = await eventually(boris.history)
        assert all("горошек" not in m["text"] for m in boris_msgs)
        file_url = mine["attachments"][0]["url"].split("/widget/", 1)[1]
        own = await client.get("/widget/" + file_url)
        assert own.status_code == 200 and own.content == png
        stolen = await client.get(
            "/widget/file/" + file_url.split("/")[1].split("?")[0],
            params={"key": "key-live", "token": boris.token},
        )
        assert stolen.status_code == 404

        # Live: Anna's stream gets a notice when a manager answers; Boris's stream does not.
        async with factory() as session:
            ident = (
                (
                    await session.execute(
                        select(Identity).where(Identity.kind == "widget", Identity.external_id.like("v:%"))
                    )
                )
                .scalars()
                .all()
            )
        anna_ident = next(
            i
            for i in ident
            if i.external_id == read_visitor_token(Keyring(settings.secret_key), anna.token).external_id
        )  # type: ignore[union-attr]

        got: dict[str, list[str]] = {"anna": [], "boris": []}

        async def listen(who: str, b: Browser) -> None:
            async with client.stream(
                "GET",
                "/widget/stream",
                params={"key": "key-live", "token": b.token},
                headers={"Origin": SHOP},
            ) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        got[who].append(line[6:])

        tasks = [asyncio.create_task(listen("anna", anna)), asyncio.create_task(listen("boris", boris))]
        await eventually(lambda: _true(len(got["anna"]) >= 1 and len(got["boris"]) >= 1))  # both said hello
        async with transaction(factory) as session:
            thread = (
                await session.execute(select(Thread).where(Thread.customer_id == anna_ident.customer_id))
            ).scalar_one()
            reply = await enqueue(session, thread, Draft(text="Да, есть размеры S и M"))
            reply_id = reply.id

        async def reply_ext() -> str | None:
            async with factory() as session:
                row = await session.get(Message, reply_id)
                return row.external_id if row is not None else None

        ext = await eventually(reply_ext)
        await eventually(lambda: _true(any(ext in d for d in got["anna"])))
        await asyncio.sleep(0.5)
        assert not any(ext in d for d in got["boris"])  # Boris's stream carries only his own messages
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        # Delivered once the visitor's browser has fetched it.
        async def delivered() -> bool:
            msgs = await anna.history()
            assert any(m["text"] == "Да, есть размеры S и M" for m in msgs)
            async with factory() as session:
                row = await session.get(Message, reply_id)
                return row is not None and row.delivery == "delivered"

        await eventually(delivered)
        assert account_id


async def _true(value: bool) -> bool:
    return value


async def test_rate_limits_and_size_limits(factory: SessionFactory, server: str) -> None:
    await add_widget(factory, "limited", "key-slow", rate_messages=[3, 60], max_text=50, max_upload=100)
    await add_widget(factory, "per ip", "key-ip", rate_ip=[4, 60])
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        v = Browser(client, "key-slow")
        await v.start()
        assert (await v.post("send", {"id": "t1", "text": "x" * 51})).status_code == 413
        codes = [(await v.post("send", {"id": f"m{i}", "text": "hi"})).status_code for i in range(4)]
        assert codes == [202, 202, 202, 429]
        limited = await v.post("send", {"id": "m9", "text": "hi"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # Another visitor on the same key is not held back by the first one's limit.
        w = Browser(client, "key-slow")
        await w.start()
        assert (await w.post("send", {"id": "w1", "text": "hi"})).status_code == 202
        big = await client.post(
            "/widget/upload", params={"key": "key-slow"}, content=b"x" * 101,
            headers={**w.headers(), "Content-Type": "image/png"},
        )  # fmt: skip
        assert big.status_code == 413
        exe = await client.post(
            "/widget/upload", params={"key": "key-slow"}, content=b"MZ",
            headers={**w.headers(), "Content-Type": "application/x-msdownload"},
        )  # fmt: skip
        assert exe.status_code == 415
        bad = await client.post(
            "/widget/send", params={"key": "key-slow"}, content=b"{not json", headers=w.headers()
        )
        assert bad.status_code == 400

        starts = [(await Browser(client, "key-ip").start()).status_code for _ in range(5)]
        assert starts == [200, 200, 200, 200, 429]


async def test_signed_customer_id_is_the_same_visitor_everywhere(
    factory: SessionFactory, server: str
) -> None:
    await add_widget(factory, "site", "key-user")
    keys = Keyring("test-secret-key-0123456789")
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        laptop, phone = Browser(client, "key-user"), Browser(client, "key-user")
        sig = sign_user(SECRET, "buyer-42")
        assert (await laptop.start(user="buyer-42", user_sig=sig, name="Анна")).status_code == 200
        assert (await phone.start(user="buyer-42", user_sig=sig)).status_code == 200
        one, two = read_visitor_token(keys, laptop.token), read_visitor_token(keys, phone.token)
        assert one is not None and one == two and one.external_id == "u:buyer-42"
        forged = Browser(client, "key-user")
        assert (await forged.start(user="buyer-43", user_sig=sig)).status_code == 403
        assert (await forged.start(user="buyer-42", user_sig="0" * 64)).status_code == 403

        assert (await laptop.post("send", {"id": "l1", "text": "С ноутбука"})).status_code == 202
        msgs = await eventually(phone.history)
        assert any(m["text"] == "С ноутбука" for m in msgs)  # the phone reads the laptop's conversation
        async with factory() as session:
            ident = (
                await session.execute(select(Identity).where(Identity.external_id == "u:buyer-42"))
            ).scalar_one()
            customer = await session.get(Customer, ident.customer_id)
            assert customer is not None and customer.name == "Анна"


def letter_from_anna(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Анна Смирнова <anna@example.org>"
    msg["To"] = "shop@romashka.ru"
    msg["Subject"] = f"Вопрос {n}"
    msg["Message-ID"] = f"<widget-{n}@example.org>"
    msg.set_content(f"Письмо номер {n}")
    return msg.as_bytes()


async def test_confirmed_email_joins_the_existing_customer(
    factory: SessionFactory, settings: Settings, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    mail = make_account(dovecot, smtp_server.port)
    async with transaction(factory) as session:
        session.add(
            ChannelAccount(
                kind="email",
                name="shop mail",
                settings=dict(mail.settings),
                secrets=dict(mail.secrets),
                state={},
            )
        )
    await add_widget(factory, "site", "key-mail")
    dovecot.deliver(letter_from_anna(1))  # Anna is a customer by email already
    with threaded_server(settings) as server:

        async def anna_by_mail() -> Customer | None:
            async with factory() as session:
                return (
                    await session.execute(select(Customer).where(Customer.email == "anna@example.org"))
                ).scalar_one_or_none()

        anna_customer = await eventually(anna_by_mail, timeout=60)
        async with httpx.AsyncClient(base_url=server, timeout=20) as client:
            v = Browser(client, "key-mail")
            await v.start(lang="ru")
            assert (
                await v.post("send", {"id": "w1", "text": "Здравствуйте, это Анна с сайта"})
            ).status_code == 202
            await eventually(v.history)
            async with factory() as session:
                widget_ident = (
                    await session.execute(select(Identity).where(Identity.kind == "widget"))
                ).scalar_one()
                assert widget_ident.customer_id != anna_customer.id  # unconfirmed: a separate customer

            before = len(smtp_server.handler.received)
            r = await v.post("contact", {"contact": "Anna@Example.org"})
            assert r.status_code == 202, r.text
            assert (await v.post("contact", {"contact": "anna@example.org"})).status_code == 429  # too soon

            def code_letter() -> str | None:
                for got in smtp_server.handler.received[before:]:
                    letter = message_from_bytes(got.data, policy=policy.default)
                    if "anna@example.org" in got.rcpt_tos and "Код подтверждения" in str(letter["Subject"]):
                        body = letter.get_body(("plain",))
                        found = re.search(r"\b(\d{6})\b", str(body.get_content()) if body else "")
                        return found.group(1) if found else None
                return None

            code = await eventually(lambda: _value(code_letter()))
            wrong = "000000" if code != "000000" else "111111"
            w = await v.post("confirm", {"code": wrong})
            assert w.status_code == 400 and "4" in w.json()["detail"]
            ok = await v.post("confirm", {"code": code})
            assert ok.status_code == 200, ok.text
            assert ok.json()["confirmed"] == "anna@example.org"
            assert (await v.post("confirm", {"code": code})).status_code == 410  # used up

            async with factory() as session:
                ident = await session.get(Identity, widget_ident.id)
                assert ident is not None and ident.customer_id == anna_customer.id  # joined Anna

            # A later letter from that address lands on the same customer and thread.
            dovecot.deliver(letter_from_anna(2))

            async def second_letter_in_annas_thread() -> bool:
                async with factory() as session:
                    rows = (
                        (await session.execute(select(Message).where(Message.text == "Письмо номер 2")))
                        .scalars()
                        .all()
                    )
                    thread = (
                        await session.execute(select(Thread).where(Thread.customer_id == anna_customer.id))
                    ).scalar_one()
                    return (
                        bool(rows)
                        and rows[0].customer_id == anna_customer.id
                        and rows[0].thread_id == thread.id
                    )

            await eventually(second_letter_in_annas_thread, timeout=60)
            # The visitor still reads only the widget conversation, now under Anna's customer.
            msgs = await v.history()
            assert [m["text"] for m in msgs if m["dir"] == "in"] == ["Здравствуйте, это Анна с сайта"]


async def _value(value: Any) -> Any:
    return value


async def test_offline_the_visitor_leaves_a_contact_and_the_answer_goes_there(
    factory: SessionFactory, settings: Settings, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    mail = make_account(dovecot, smtp_server.port)
    async with transaction(factory) as session:
        session.add(
            ChannelAccount(
                kind="email",
                name="shop mail",
                settings=dict(mail.settings),
                secrets=dict(mail.secrets),
                state={},
            )
        )
    # Nobody works on any day: the widget is offline.
    await add_widget(factory, "site", "key-off", hours={"days": [], "from": "09:00", "to": "18:00"})
    with threaded_server(settings) as server:
        async with httpx.AsyncClient(base_url=server, timeout=20) as client:
            v = Browser(client, "key-off")
            started = (await v.start(lang="en")).json()
            assert started["online"] is False and "offline" in started["strings"]["offline"]
            assert (await v.post("send", {"id": "o1", "text": "Do you ship to Kazan?"})).status_code == 202
            await eventually(v.history)
            before = len(smtp_server.handler.received)
            r = await v.post("contact", {"contact": "petr@example.org", "offline": True})
            assert r.status_code == 202, r.text

            def code_letter() -> str | None:
                for got in smtp_server.handler.received[before:]:
                    if "petr@example.org" in got.rcpt_tos:
                        letter = message_from_bytes(got.data, policy=policy.default)
                        body = letter.get_body(("plain",))
                        found = re.search(r"\b(\d{6})\b", str(body.get_content()) if body else "")
                        return found.group(1) if found else None
                return None

            code = await eventually(lambda: _value(code_letter()))
            assert (await v.post("confirm", {"code": code})).status_code == 200
            async with transaction(factory) as session:
                ident = (
                    await session.execute(select(Identity).where(Identity.kind == "widget"))
                ).scalar_one()
                customer = await session.get(Customer, ident.customer_id)
                assert (
                    customer is not None and customer.email == "petr@example.org" and customer.email_verified
                )
                assert customer.preferred_channel == "email"
                thread = (
                    await session.execute(select(Thread).where(Thread.customer_id == customer.id))
                ).scalar_one()
                reply = await enqueue(session, thread, Draft(text="Yes, we ship to Kazan in 3 days."))
                assert reply.channel == "email"
            mark = len(smtp_server.handler.received)

            def answered() -> bool:
                for got in smtp_server.handler.received[mark:]:
                    letter = message_from_bytes(got.data, policy=policy.default)
                    body = letter.get_body(("plain",))
                    if (
                        "petr@example.org" in got.rcpt_tos
                        and body
                        and "ship to Kazan" in str(body.get_content())
                    ):
                        return True
                return False

            await eventually(lambda: _value(answered()))


async def test_a_phone_is_confirmed_by_sms_and_joins_the_customer_who_texted_from_it(
    factory: SessionFactory, settings: Settings
) -> None:
    from tests.emulators.sms import SMSEmulator

    phone = "+79035550123"
    with SMSEmulator() as sms, threaded_server(settings) as server:
        async with transaction(factory) as session:
            row = ChannelAccount(
                kind="sms",
                name="sms",
                state={},
                settings={
                    "provider": "twilio",
                    "from": "+15005550006",
                    "api_base": sms.base_url,
                    "public_url": server,
                },
                secrets={"account_sid": sms.twilio_sid, "auth_token": sms.twilio_token},
            )
            session.add(row)
            await session.flush()
            sms_account = row.id
        await add_widget(factory, "site", "key-sms")
        fired = await asyncio.to_thread(
            sms.fire_twilio_inbound, f"{server}/webhooks/sms/{sms_account}", sender=phone, to="+15005550006",
            body="Где мой заказ?",
        )  # fmt: skip
        assert fired.status == 200

        async def texter() -> Customer | None:
            async with factory() as session:
                return (
                    await session.execute(select(Customer).where(Customer.phone == phone))
                ).scalar_one_or_none()

        by_sms = await eventually(texter)
        async with httpx.AsyncClient(base_url=server, timeout=20) as client:
            v = Browser(client, "key-sms")
            await v.start(lang="ru")
            assert (await v.post("send", {"id": "s1", "text": "Пишу с сайта"})).status_code == 202
            await eventually(v.history)
            before = len(sms.sent)
            assert (await v.post("contact", {"contact": "8 (903) 555-01-23"})).json()["sent"] == "phone"

            async def code() -> str | None:
                for record in sms.sent[before:]:
                    found = re.search(r"Ваш код подтверждения: (\d{6})", str(record.get("body")))
                    if record.get("to") == phone and found:
                        return found.group(1)
                return None

            got = await eventually(code)
            ok = await v.post("confirm", {"code": got})
            assert ok.status_code == 200 and ok.json() == {"confirmed": phone, "kind": "phone"}
        async with factory() as session:
            ident = (await session.execute(select(Identity).where(Identity.kind == "widget"))).scalar_one()
            assert ident.customer_id == by_sms.id


async def test_the_consent_box_records_marketing_consent_once_the_address_is_confirmed(
    factory: SessionFactory, settings: Settings, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    mail = make_account(dovecot, smtp_server.port)
    async with transaction(factory) as session:
        session.add(
            ChannelAccount(
                kind="email",
                name="shop mail",
                settings=dict(mail.settings),
                secrets=dict(mail.secrets),
                state={},
            )
        )
    await add_widget(factory, "site", "key-consent")

    def code_for(address: str, since: int) -> str | None:
        for got in smtp_server.handler.received[since:]:
            if address in got.rcpt_tos:
                body = message_from_bytes(got.data, policy=policy.default).get_body(("plain",))
                found = re.search(r"\b(\d{6})\b", str(body.get_content()) if body else "")
                return found.group(1) if found else None
        return None

    async def consent_of(v: Browser) -> dict[str, tuple[bool, str]]:
        visitor = read_visitor_token(Keyring(settings.secret_key), v.token)
        assert visitor is not None
        async with factory() as session:
            ident = (
                await session.execute(
                    select(Identity).where(
                        Identity.kind == "widget", Identity.external_id == visitor.external_id
                    )
                )
            ).scalar_one()
            state = await current_consent(session, ident.customer_id)
            return {ch: (s.marketing, s.source) for ch, s in state.items()}

    with threaded_server(settings) as server:
        async with httpx.AsyncClient(base_url=server, timeout=20) as client:
            yes, no = Browser(client, "key-consent"), Browser(client, "key-consent")
            for v, cid in ((yes, "y1"), (no, "n1")):
                await v.start(lang="ru")
                assert (await v.post("send", {"id": cid, "text": "Здравствуйте"})).status_code == 202
                await eventually(v.history)
            # The box is a boolean, checked on the server.
            bad = await yes.post("contact", {"contact": "olga@example.org", "consent": "yes"})
            assert bad.status_code == 400, bad.text

            before = len(smtp_server.handler.received)
            r = await yes.post("contact", {"contact": "olga@example.org", "consent": True})
            assert r.status_code == 202, r.text
            r = await no.post("contact", {"contact": "ivan@example.org", "consent": False})
            assert r.status_code == 202, r.text
            assert await consent_of(yes) == {}  # nothing before the address is confirmed
            yes_code = await eventually(lambda: _value(code_for("olga@example.org", before)))
            no_code = await eventually(lambda: _value(code_for("ivan@example.org", before)))
            # The token decides whose consent it is: Ivan's token with Olga's code confirms nothing.
            if yes_code != no_code:
                assert (await no.post("confirm", {"code": yes_code})).status_code == 400
            assert (await yes.post("confirm", {"code": yes_code})).status_code == 200
            assert (await no.post("confirm", {"code": no_code})).status_code == 200

            assert await consent_of(yes) == {"widget": (True, "widget"), "email": (True, "widget")}
            assert await consent_of(no) == {}
