"""The email channel against a real dovecot (IMAP) and aiosmtpd (SMTP)."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbox.channels.email.adapter import EmailChannel
from inbox.channels.email.conversations import Letter, group_conversations
from inbox.channels.email.imap import ImapConfig, ImapError, ImapSession, Progress
from inbox.channels.email.parse import parse_email
from inbox.core.types import (
    Attachment,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    TransientSendError,
)
from inbox.settings import Settings
from tests import services
from tests.dovecot import Dovecot
from tests.integration.email_conftest import MemoryState, Sink, SmtpServer, make_account

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "email").glob("*.eml"))


def letter(n: int, **headers: str) -> bytes:
    fields = {
        "From": f"Client {n} <client{n}@example.org>",
        "To": "shop@romashka.ru",
        "Subject": f"Letter {n}",
        "Date": "Mon, 24 Nov 2026 10:00:00 +0300",
        "Message-ID": f"<letter-{n}@example.org>",
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    head = "\r\n".join(f"{k}: {v}" for k, v in fields.items())
    return (head + f"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nТекст письма {n}\r\n").encode()


async def test_corpus_first_sync_parse_and_state(dovecot: Dovecot, channel: EmailChannel) -> None:
    for path in FIXTURES:
        dovecot.deliver(path.read_bytes())
    state, sink, progress = MemoryState(), Sink(), []
    summary = await channel.sync_once(sink, state, progress.append)

    assert summary.fetched == len(FIXTURES) and summary.errors == 0 and summary.skipped == 0
    assert sorted(sink.keys) == sorted("mid:" + parse_email(p.read_bytes()).message_id for p in FIXTURES)  # type: ignore[operator]
    assert progress[0] == Progress("INBOX", 0, len(FIXTURES)) and progress[-1].done == len(FIXTURES)
    folder_state = state.value["imap"]["INBOX"]
    assert folder_state["last_uid"] == len(FIXTURES) and folder_state["uidvalidity"] > 0

    by_subject: dict[str, InboundMessage] = {}
    for event in sink.events:
        assert event.payload["folder"] == "INBOX" and isinstance(event.payload["uid"], int)
        (item,) = await channel.parse(event)
        assert isinstance(item, InboundMessage)
        by_subject[str(item.meta["subject"])] = item
    gmail = by_subject["Re: Ваш заказ #1042"]
    assert gmail.external_user_id == "anna.smirnova@gmail.com"
    assert gmail.contact.email == "anna.smirnova@gmail.com" and gmail.contact.display_name == "Анна Смирнова"
    assert gmail.thread_hints.in_reply_to == "order-1042.1@romashka.ru"
    assert gmail.text == "Здравствуйте! Да, размер M подойдёт, оформляйте заказ №1042.\n\nСпасибо!"
    assert gmail.meta["auto"] is False and "Уточните" in gmail.meta["full_text"]
    assert by_subject["Автоответ: Счёт на оплату"].meta["auto"] is True
    att = by_subject["Реквизиты"]
    assert [a.filename for a in att.attachments][1] == "Счёт №1042.pdf"
    assert att.attachments[0].kind == "inline" and att.attachments[0].content_id == "photo1@vektor"
    assert await channel.fetch(att.attachments[1]) == att.attachments[1].data

    # nothing was marked \Seen (BODY.PEEK), and a second pass fetches nothing
    async with ImapSession(channel.imap) as session:
        await session.select("INBOX")
        flags = await session.imap.uid("fetch", "1:*", "(FLAGS)")
        assert flags.result == "OK" and not any(
            b"\\Seen" in line for line in flags.lines if isinstance(line, bytes)
        )
    again = await channel.sync_once(sink, state)
    assert again.fetched == 0 and len(sink.events) == len(FIXTURES)


async def test_downtime_200_letters_fetched_exactly_once(dovecot: Dovecot, channel: EmailChannel) -> None:
    dovecot.deliver(letter(0))
    state, sink = MemoryState(), Sink()
    assert (await channel.sync_once(sink, state)).fetched == 1
    dovecot.stop()
    for n in range(1, 201):
        dovecot.deliver(letter(n))
    dovecot.start()
    summary = await channel.sync_once(sink, state)
    assert summary.fetched == 200
    assert len(sink.keys) == len(set(sink.keys)) == 201
    assert state.value["imap"]["INBOX"]["last_uid"] == 201
    assert (await channel.sync_once(sink, state)).fetched == 0


async def test_uidvalidity_change_resyncs_with_same_keys(dovecot: Dovecot, channel: EmailChannel) -> None:
    for n in range(5):
        dovecot.deliver(letter(n))
    first_state, first = MemoryState(), Sink()
    await channel.sync_once(first, first_state)
    old_validity = first_state.value["imap"]["INBOX"]["uidvalidity"]

    dovecot.stop()
    inbox = dovecot.maildir()
    for path in inbox.iterdir():
        if path.name.startswith("dovecot"):
            path.unlink()
    dovecot.start()

    again = Sink()
    summary = await channel.sync_once(again, first_state)
    assert first_state.value["imap"]["INBOX"]["uidvalidity"] != old_validity
    assert summary.resets == 1 and summary.fetched == 5
    assert sorted(again.keys) == sorted(first.keys)  # the core dedups by key: 0 duplicates


async def test_idle_delivers_promptly(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings
) -> None:
    ch = EmailChannel(make_account(dovecot, smtp_server.port, idle_seconds=30), email_settings)
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def sink(events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            queue.put_nowait(event.key)

    state = MemoryState()
    task = asyncio.create_task(ch.run(sink, state))
    try:
        await asyncio.wait_for(ch.sync.connected.wait(), 15)
        import aiosmtplib

        await aiosmtplib.send(
            letter(77),
            sender="client77@example.org",
            recipients=["shop@romashka.ru"],
            hostname="127.0.0.1",
            port=smtp_server.port,
        )
        key = await asyncio.wait_for(queue.get(), 20)
        assert key == "mid:letter-77@example.org"
        assert state.value["imap"]["INBOX"]["last_uid"] == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_reconnects_after_server_restart(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings
) -> None:
    account = make_account(
        dovecot,
        smtp_server.port,
        idle_seconds=30,
        imap_timeout=3,
        reconnect_min_seconds=0.2,
        reconnect_max_seconds=0.5,
    )
    ch = EmailChannel(account, email_settings)
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def sink(events: list) -> None:  # type: ignore[type-arg]
        for event in events:
            queue.put_nowait(event.key)

    task = asyncio.create_task(ch.run(sink, MemoryState()))
    try:
        await asyncio.wait_for(ch.sync.connected.wait(), 15)
        dovecot.kill()  # connections are reset, as when a server crashes
        dovecot.deliver(letter(5))
        dovecot.start()
        assert await asyncio.wait_for(queue.get(), 30) == "mid:letter-5@example.org"
        assert dovecot.log().count("Login: user=<shop>") == 2  # it reconnected and caught up
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_threading_agrees_with_dovecot_thread_references(
    dovecot: Dovecot, channel: EmailChannel
) -> None:
    letters = [
        letter(1, Subject="Order question"),
        letter(2, Subject="Re: Order question", In_Reply_To="<letter-1@example.org>"),
        letter(
            3, Subject="Re: Re: Order question", References="<letter-1@example.org> <letter-2@example.org>"
        ),
        letter(4, Subject="Delivery"),
        letter(5, Subject="Re: Delivery"),  # no headers: joined by subject
        letter(6, Subject="Refund", References="<missing@example.org>"),
        letter(7, Subject="Something else", In_Reply_To="<missing@example.org>"),
        letter(8, Subject="Fwd: Refund"),
        letter(9, Subject="Unrelated"),
        letter(10, Subject="[shop] Re: Unrelated"),
    ]
    for raw in letters:
        dovecot.deliver(raw)
    sink = Sink()
    await channel.sync_once(sink, MemoryState())
    parsed = {e.payload["uid"]: parse_email(base64.b64decode(e.payload["raw_b64"])) for e in sink.events}
    ours = group_conversations(
        [
            Letter(str(uid), p.message_id, p.in_reply_to, p.references, p.subject)
            for uid, p in sorted(parsed.items())
        ]
    )
    async with ImapSession(channel.imap) as session:
        await session.select("INBOX")
        theirs = await session.thread_references()
    assert {frozenset(map(int, g)) for g in ours} == {frozenset(t) for t in theirs}
    assert len(ours) == 4


async def test_send_threading_headers_attachments_and_idempotent_message_id(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings, tmp_path: Path
) -> None:
    async with ImapSession(make_account_imap(dovecot)) as session:
        assert (await session.imap.create("Sent")).result == "OK"
    ch = EmailChannel(make_account(dovecot, smtp_server.port, sent_folder="Sent"), email_settings)
    file = tmp_path / "invoice.pdf"
    file.write_bytes(b"%PDF-1.4 test")
    msg = OutboundMessage(
        account_id=1,
        chat_id="anna.smirnova@gmail.com",
        text="Заказ №1042 отправлен.",
        html="<p>Заказ <b>№1042</b> отправлен.</p>",
        idempotency_key="outbox:17",
        attachments=(
            Attachment(
                kind="document", filename="Счёт 1042.pdf", content_type="application/pdf", path=str(file)
            ),
        ),
        meta={
            "subject": "Re: Ваш заказ #1042",
            "in_reply_to": "CAHx5f2@mail.gmail.com",
            "references": ["order-1042.1@romashka.ru"],
            "auto": True,
        },
    )
    sent = await ch.send(msg)
    retry = await ch.send(msg)
    assert sent.external_id == retry.external_id and sent.external_id.endswith("@romashka.ru")
    assert len(smtp_server.handler.received) == 2
    got = smtp_server.handler.received[0]
    assert got.mail_from == "shop@romashka.ru" and got.rcpt_tos == ["anna.smirnova@gmail.com"]
    mail = message_from_bytes(got.data, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Message-ID"] == f"<{sent.external_id}>"
    assert mail["Subject"] == "Re: Ваш заказ #1042"
    assert mail["In-Reply-To"] == "<CAHx5f2@mail.gmail.com>"
    assert mail["References"] == "<order-1042.1@romashka.ru> <CAHx5f2@mail.gmail.com>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "Магазин Ромашка" in str(mail["From"])
    body = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert body is not None and body.get_content().strip() == "Заказ №1042 отправлен."
    assert html is not None and "<b>№1042</b>" in html.get_content()
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "Счёт 1042.pdf" and attachment.get_content() == b"%PDF-1.4 test"

    # our own letter came back through the server into INBOX, and a copy is in Sent; parse skips our own
    sink = Sink()
    ch2 = EmailChannel(make_account(dovecot, smtp_server.port, folders=["INBOX", "Sent"]), email_settings)
    await ch2.sync_once(sink, MemoryState())
    assert sink.keys.count(f"mid:{sent.external_id}") == 4  # 2 delivered + 2 Sent copies, one key
    assert await ch2.parse(sink.events[0]) == []

    # a reply subject is not doubled, a plain one gets "Re:" only when replying
    plain = OutboundMessage(
        1, "x@example.org", "hi", "outbox:18", meta={"subject": "Вопрос", "in_reply_to": "a@b"}
    )
    await ch.send(plain)
    assert (
        message_from_bytes(smtp_server.handler.received[-1].data, policy=policy.default)["Subject"]
        == "Re: Вопрос"
    )


def make_account_imap(dovecot: Dovecot) -> ImapConfig:
    return ImapConfig("127.0.0.1", dovecot.port, dovecot.user, dovecot.password, security="none")


async def test_send_errors_map_to_transient_and_permanent(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings
) -> None:
    ch = EmailChannel(make_account(dovecot, smtp_server.port), email_settings)
    msg = OutboundMessage(1, "nobody@example.org", "hi", "outbox:1", meta={"subject": "s"})
    smtp_server.handler.reply = "550 5.1.1 No such user"
    with pytest.raises(PermanentSendError, match="550"):
        await ch.send(msg)
    smtp_server.handler.reply = "451 4.3.0 Try again later"
    with pytest.raises(TransientSendError, match="451"):
        await ch.send(msg)
    closed = EmailChannel(make_account(dovecot, services.free_port()), email_settings)
    with pytest.raises(TransientSendError, match="SMTP connection"):
        await closed.send(msg)
    good = make_account(dovecot, smtp_server.port)
    bad_auth = EmailChannel(replace(good, secrets={"password": "wrong"}), email_settings)
    smtp_server.handler.reply = None
    with pytest.raises(PermanentSendError, match="535"):
        await bad_auth.send(msg)
    with pytest.raises(PermanentSendError, match="not an email address"):
        await ch.send(OutboundMessage(1, "not-an-address", "hi", "outbox:2"))


async def test_imap_login_failure_is_reported(dovecot: Dovecot) -> None:
    config = ImapConfig("127.0.0.1", dovecot.port, dovecot.user, "wrong", security="none", timeout=10)
    with pytest.raises(ImapError) as info:
        async with ImapSession(config):
            pass
    assert info.value.step == "login"
    assert "authentication failed" in info.value.detail.lower()


async def test_cyrillic_folder_is_synced(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings
) -> None:
    async with ImapSession(make_account_imap(dovecot)) as session:
        assert (await session.imap.create("&BBcEMARPBDIEOgQ4-")).result == "OK"  # "Заявки" in modified UTF-7
        await session.append(letter(31), "Заявки")
    dovecot.deliver(letter(30))
    ch = EmailChannel(make_account(dovecot, smtp_server.port, folders=["INBOX", "Заявки"]), email_settings)
    sink, state = Sink(), MemoryState()
    summary = await ch.sync_once(sink, state)
    assert summary.folders == {"INBOX": 1, "Заявки": 1}
    assert {(e.key, e.payload["folder"]) for e in sink.events} == {
        ("mid:letter-30@example.org", "INBOX"),
        ("mid:letter-31@example.org", "Заявки"),
    }
    assert set(state.value["imap"]) == {"INBOX", "Заявки"}


async def test_letters_older_than_the_window_are_never_fetched(
    dovecot: Dovecot, channel: EmailChannel
) -> None:
    old = dovecot.deliver(letter(40))
    sixty_days_ago = time.time() - 60 * 86400
    os.utime(old, (sixty_days_ago, sixty_days_ago))  # maildir INTERNALDATE is the file's mtime
    sink, state = Sink(), MemoryState()
    summary = await channel.sync_once(sink, state)
    assert summary.fetched == 0 and state.value["imap"]["INBOX"]["last_uid"] == 1  # saved even when empty
    dovecot.deliver(letter(41))
    assert (await channel.sync_once(sink, state)).fetched == 1
    assert sink.keys == ["mid:letter-41@example.org"]
