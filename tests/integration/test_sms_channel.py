"""The SMS channel against the local Twilio / SMS.ru emulator, through real httpx and real HTTP webhooks.

The webhook receiver below stands in for the core route ``POST /webhooks/sms/{account_id}[/status]``: it turns
the HTTP request into a WebhookRequest exactly as the route does and calls ``handle_webhook``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from inbox.channels.sms.adapter import SMSChannel
from inbox.channels.sms.providers import MediaUnavailable, SMSConfigError
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Button,
    ChannelKind,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    RawEvent,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
)
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator
from tests.services import free_port

CUSTOMER = "+79991234567"
SHOP_NUMBER = "+15005550006"
WEBHOOK_TOKEN = "smsru-callback-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


# ---- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[SMSEmulator]:
    with SMSEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: SMSEmulator) -> None:
    emu.reset()


@dataclass
class Receiver:
    """A tiny HTTP server doing what the core webhook route does, with a channel per account id."""

    channels: dict[int, SMSChannel] = field(default_factory=dict)
    events: list[RawEvent] = field(default_factory=list)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    def url(self, account_id: int, sub_path: str = "", query: str = "") -> str:
        return (
            f"http://127.0.0.1:{self.port}/webhooks/sms/{account_id}"
            + (f"/{sub_path}" if sub_path else "")
            + (f"?{query}" if query else "")
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")  # webhooks / sms / id [/ status]
            channel = state.channels[int(segments[2])]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = WebhookRequest(
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                query=dict(parse_qsl(parts.query)),
                url=f"http://127.0.0.1:{state.port}{self.path}",
                sub_path=segments[3] if len(segments) > 3 else "",
            )
            try:
                result = channel.handle_webhook(request)
            except WebhookRejected as exc:
                status, text, ctype = exc.status, exc.reason, "text/plain"
            else:
                state.events.extend(result.events)
                status, text, ctype = result.status, result.body, result.content_type
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    state.server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    thread = threading.Thread(target=state.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def make_settings(tmp_path: Path, public_url: str | None = None) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused",
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
        public_url=public_url,
    )


def twilio_account(emu: SMSEmulator, account_id: int = 1, **settings: Any) -> AccountConfig:
    return AccountConfig(
        id=account_id,
        kind=ChannelKind.SMS,
        name=f"twilio-{account_id}",
        settings={"provider": "twilio", "from": SHOP_NUMBER, "api_base": emu.base_url, **settings},
        secrets={"account_sid": emu.twilio_sid, "auth_token": emu.twilio_token},
    )


def smsru_account(emu: SMSEmulator, account_id: int = 2, **settings: Any) -> AccountConfig:
    return AccountConfig(
        id=account_id,
        kind=ChannelKind.SMS,
        name=f"smsru-{account_id}",
        settings={"provider": "smsru", "from": "MyShop", "api_base": emu.base_url, **settings},
        secrets={"api_id": emu.smsru_api_id, "webhook_token": WEBHOOK_TOKEN},
    )


@pytest.fixture
async def twilio(emu: SMSEmulator, receiver: Receiver, tmp_path: Path) -> AsyncIterator[SMSChannel]:
    account = twilio_account(emu, status_callback_url=receiver.url(1, "status"))
    channel = SMSChannel(account, make_settings(tmp_path))
    receiver.channels[1] = channel
    yield channel
    await channel.close()


@pytest.fixture
async def smsru(emu: SMSEmulator, receiver: Receiver, tmp_path: Path) -> AsyncIterator[SMSChannel]:
    channel = SMSChannel(smsru_account(emu), make_settings(tmp_path))
    receiver.channels[2] = channel
    yield channel
    await channel.close()


def out(text: str, chat_id: str = CUSTOMER, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(account_id=1, chat_id=chat_id, text=text, idempotency_key="outbox-1", **kwargs)


# ---- sending ---------------------------------------------------------------------------------------------


async def test_twilio_send(twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver) -> None:
    sent = await twilio.send(out("Your order #12 has shipped"))
    assert len(emu.sent) == 1
    record = emu.sent[0]
    assert record["provider"] == "twilio"
    assert (record["to"], record["from"], record["body"]) == (
        CUSTOMER,
        SHOP_NUMBER,
        "Your order #12 has shipped",
    )
    assert record["status_callback"] == receiver.url(1, "status")
    assert sent.external_id == record["sid"] and sent.external_id.startswith("SM")
    assert sent.state == "sent"
    assert sent.meta["parts"] == 1 and sent.meta["encoding"] == "GSM-7"


async def test_smsru_send(smsru: SMSChannel, emu: SMSEmulator) -> None:
    sent = await smsru.send(out("Заказ №12 отправлен"))
    record = emu.sent[0]
    assert record["provider"] == "smsru"
    assert record["to"] == CUSTOMER.lstrip("+")
    assert record["from"] == "MyShop"
    assert record["body"] == "Заказ №12 отправлен"
    assert record["params"]["json"] == "1"
    assert record["test"] is False
    assert sent.external_id == record["sid"]
    assert sent.meta["encoding"] == "UCS-2"


async def test_smsru_test_mode_flag(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(smsru_account(emu, test=True), make_settings(tmp_path))
    try:
        await channel.send(out("hello"))
    finally:
        await channel.close()
    assert emu.sent[0]["test"] is True


async def test_national_format_recipient_is_normalised(twilio: SMSChannel, emu: SMSEmulator) -> None:
    await twilio.send(out("hi", chat_id="8 (999) 123-45-67"))
    assert emu.sent[0]["to"] == CUSTOMER


async def test_not_a_phone_is_permanent(twilio: SMSChannel, emu: SMSEmulator) -> None:
    with pytest.raises(PermanentSendError, match="not a phone number"):
        await twilio.send(out("hi", chat_id="vk-12345"))
    assert emu.sent == []


@pytest.mark.parametrize(
    ("failure", "error", "reason"),
    [
        (
            {"http_status": 400, "code": 21211, "message": "The 'To' number is not valid"},
            PermanentSendError,
            "21211",
        ),
        (
            {"http_status": 400, "code": 21610, "message": "Attempt to send to unsubscribed"},
            PermanentSendError,
            "STOP",
        ),
        (
            {"http_status": 400, "code": 21614, "message": "'To' number is not a valid mobile"},
            PermanentSendError,
            "mobile",
        ),
        ({"http_status": 404, "code": 20404, "message": "not found"}, PermanentSendError, "20404"),
        (
            {"http_status": 429, "code": 20429, "message": "Too Many Requests", "retry_after": 7},
            TransientSendError,
            "429",
        ),
        ({"http_status": 500, "code": 20500, "message": "Internal Server Error"}, TransientSendError, "500"),
        ({"http_status": 503, "code": 20503, "message": "Service Unavailable"}, TransientSendError, "503"),
        ({"drop": True}, TransientSendError, "unreachable"),
    ],
)
async def test_twilio_error_mapping(
    twilio: SMSChannel, emu: SMSEmulator, failure: dict[str, Any], error: type[Exception], reason: str
) -> None:
    emu.fail_next("twilio", **failure)
    with pytest.raises(error, match=reason) as info:
        await twilio.send(out("hello"))
    if failure.get("retry_after"):
        assert isinstance(info.value, TransientSendError)
        assert info.value.retry_after == 7.0
    assert emu.sent == []
    # the failure was consumed: the next send goes through
    assert (await twilio.send(out("hello"))).external_id == emu.sent[0]["sid"]


async def test_twilio_wrong_credentials_are_permanent(emu: SMSEmulator, tmp_path: Path) -> None:
    account = twilio_account(emu)
    account = AccountConfig(
        account.id,
        account.kind,
        account.name,
        account.settings,
        {"account_sid": emu.twilio_sid, "auth_token": "x"},
    )
    channel = SMSChannel(account, make_settings(tmp_path))
    try:
        with pytest.raises(PermanentSendError, match="20003"):
            await channel.send(out("hello"))
    finally:
        await channel.close()


async def test_twilio_invalid_to_gets_a_clear_reason(twilio: SMSChannel, emu: SMSEmulator) -> None:
    # A number phonenumbers accepts but Twilio refuses (e.g. not provisioned) comes back as 21211.
    emu.fail_next(
        "twilio", http_status=400, code=21211, message="The 'To' number +7999 is not a valid phone number."
    )
    with pytest.raises(PermanentSendError, match="invalid 'To'"):
        await twilio.send(out("hello"))


@pytest.mark.parametrize(
    ("failure", "error", "reason"),
    [
        (
            {"code": 207, "message": "На этот номер нет маршрута", "per_number": True},
            PermanentSendError,
            "207",
        ),
        ({"code": 202, "message": "Неправильно указан номер", "per_number": True}, PermanentSendError, "202"),
        ({"code": 201, "message": "Не хватает средств"}, PermanentSendError, "201"),
        ({"code": 220, "message": "Сервис временно недоступен"}, TransientSendError, "220"),
        ({"code": 230, "message": "Превышен общий лимит"}, TransientSendError, "230"),
        (
            {"code": 231, "message": "Превышен лимит одинаковых", "per_number": True},
            TransientSendError,
            "231",
        ),
        ({"code": 232, "message": "Превышен лимит одинаковых в день"}, TransientSendError, "232"),
        ({"code": 500, "message": "Ошибка на сервере"}, TransientSendError, "500"),
        ({"http_status": 502}, TransientSendError, "HTTP 502"),
        ({"drop": True}, TransientSendError, "unreachable"),
    ],
)
async def test_smsru_error_mapping(
    smsru: SMSChannel, emu: SMSEmulator, failure: dict[str, Any], error: type[Exception], reason: str
) -> None:
    emu.fail_next("smsru", **failure)
    with pytest.raises(error, match=reason):
        await smsru.send(out("hello"))
    assert emu.sent == []
    assert (await smsru.send(out("hello"))).external_id == emu.sent[0]["sid"]


async def test_smsru_wrong_api_id_is_permanent(emu: SMSEmulator, tmp_path: Path) -> None:
    account = smsru_account(emu)
    bad = AccountConfig(account.id, account.kind, account.name, account.settings, {"api_id": "nope"})
    channel = SMSChannel(bad, make_settings(tmp_path))
    try:
        with pytest.raises(PermanentSendError, match=r"sms\.ru 200"):
            await channel.send(out("hello"))
    finally:
        await channel.close()


async def test_max_parts_refusal(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(twilio_account(emu, max_parts=2), make_settings(tmp_path))
    try:
        await channel.send(out("a" * 306))  # exactly two GSM-7 parts
        await channel.send(out("я" * 134))  # exactly two UCS-2 parts
        with pytest.raises(PermanentSendError, match=r"3 SMS parts.*at most 2"):
            await channel.send(out("a" * 307))
        with pytest.raises(PermanentSendError, match="UCS-2"):
            await channel.send(out("я" * 135))
    finally:
        await channel.close()
    assert [len(s["body"]) for s in emu.sent] == [306, 134]


async def test_default_max_parts_is_six(twilio: SMSChannel, emu: SMSEmulator) -> None:
    await twilio.send(out("a" * 918))
    with pytest.raises(PermanentSendError, match="7 SMS parts"):
        await twilio.send(out("a" * 919))
    assert len(emu.sent) == 1


async def test_attachments_become_a_note(twilio: SMSChannel, emu: SMSEmulator) -> None:
    photo = Attachment(kind="photo", filename="invoice.pdf", path="files/invoice.pdf")
    buttons = ((Button("Track", url="https://shop.example/t/12"), Button("Call me", payload="call")),)
    sent = await twilio.send(out("Here is your invoice", attachments=(photo,), buttons=buttons))
    assert emu.sent[0]["body"] == (
        "Here is your invoice\nTrack: https://shop.example/t/12\n- Call me\n"
        "[Attachment invoice.pdf - not available by SMS]"
    )
    assert sent.meta["attachments_not_sent"] == ["invoice.pdf"]


async def test_attachments_refused_when_configured(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(twilio_account(emu, attachments="refuse"), make_settings(tmp_path))
    try:
        with pytest.raises(PermanentSendError, match="cannot carry files"):
            await channel.send(out("see file", attachments=(Attachment(kind="document", filename="a.pdf"),)))
        with pytest.raises(PermanentSendError, match="nothing to send"):
            await channel.send(out("   "))
    finally:
        await channel.close()
    assert emu.sent == []


# ---- Twilio inbound --------------------------------------------------------------------------------------


async def test_twilio_inbound_signed(twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver) -> None:
    fired = await asyncio.to_thread(
        emu.fire_twilio_inbound, receiver.url(1), sender=CUSTOMER, to=SHOP_NUMBER, body="Где мой заказ?"
    )
    assert fired.status == 200
    assert fired.content_type.startswith("text/xml")
    assert fired.body.endswith("<Response/>")
    assert len(receiver.events) == 1
    event = receiver.events[0]
    assert event.key == f"in:{fired.sid}"
    assert event.payload["type"] == "inbound"
    json.dumps(event.payload)  # committed as JSON
    [item] = await twilio.parse(event)
    assert isinstance(item, InboundMessage)
    assert item.kind == ChannelKind.SMS
    assert item.account_id == 1
    assert item.external_user_id == CUSTOMER
    assert item.external_message_id == fired.sid
    assert item.text == "Где мой заказ?"
    assert item.contact.phone == CUSTOMER
    assert item.sent_at.tzinfo is not None
    assert item.attachments == ()


async def test_twilio_inbound_forged_is_rejected(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    fired = await asyncio.to_thread(
        emu.fire_twilio_inbound, receiver.url(1), sender=CUSTOMER, to=SHOP_NUMBER, body="hi", forge=True
    )
    assert fired.status == 403
    assert fired.body == "bad signature"
    assert receiver.events == []


def test_twilio_signature_covers_body_and_url(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    url = receiver.url(1)
    headers, body, _ = emu.twilio_inbound_request(url, sender=CUSTOMER, to=SHOP_NUMBER, body="hi")
    lower = {k.lower(): v for k, v in headers.items()}
    ok = WebhookRequest(headers=lower, body=body, query={}, url=url)
    assert len(twilio.handle_webhook(ok).events) == 1
    tampered = WebhookRequest(headers=lower, body=body.replace(b"Body=hi", b"Body=ho"), query={}, url=url)
    with pytest.raises(WebhookRejected) as info:
        twilio.handle_webhook(tampered)
    assert info.value.status == 403
    moved = WebhookRequest(headers=lower, body=body, query={}, url=receiver.url(1, query="x=1"))
    with pytest.raises(WebhookRejected):
        twilio.handle_webhook(moved)
    unsigned = WebhookRequest(headers={"content-type": lower["content-type"]}, body=body, query={}, url=url)
    with pytest.raises(WebhookRejected):
        twilio.handle_webhook(unsigned)


async def test_twilio_signature_behind_proxy_uses_public_url(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(
        twilio_account(emu, 7), make_settings(tmp_path, public_url="https://inbox.shop.example")
    )
    try:
        public = "https://inbox.shop.example/webhooks/sms/7"
        headers, body, _ = emu.twilio_inbound_request(public, sender=CUSTOMER, to=SHOP_NUMBER, body="hi")
        lower = {k.lower(): v for k, v in headers.items()}
        seen = WebhookRequest(headers=lower, body=body, query={}, url="http://10.0.0.5:8000/webhooks/sms/7")
        assert len(channel.handle_webhook(seen).events) == 1
        assert channel.webhook_urls() == {"inbound": public, "status": public + "/status"}
        await channel.send(out("hi"))
        assert emu.sent[0]["status_callback"] == public + "/status"
    finally:
        await channel.close()


async def test_twilio_mms_media(twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver) -> None:
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
    media = [{"content_type": "image/jpeg", "data_b64": base64.b64encode(jpeg).decode()}]
    fired = await asyncio.to_thread(
        emu.fire_twilio_inbound, receiver.url(1), sender=CUSTOMER, to=SHOP_NUMBER, body="", media=media
    )
    assert fired.status == 200
    [item] = await twilio.parse(receiver.events[0])
    assert isinstance(item, InboundMessage)
    assert item.text is None
    [attachment] = item.attachments
    assert attachment.kind == "photo"
    assert attachment.content_type == "image/jpeg"
    assert attachment.filename == "mms-1.jpg"
    assert attachment.ref is not None and attachment.ref.startswith(emu.base_url)
    assert await twilio.fetch(attachment) == jpeg  # the emulator insists on basic auth
    with pytest.raises(MediaUnavailable):
        await twilio.fetch(Attachment(kind="photo", filename="x", ref=attachment.ref + "-missing"))


async def test_twilio_inbound_from_short_code(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    await asyncio.to_thread(
        emu.fire_twilio_inbound, receiver.url(1), sender="12345", to=SHOP_NUMBER, body="STOP"
    )
    [item] = await twilio.parse(receiver.events[0])
    assert isinstance(item, InboundMessage)
    assert item.external_user_id == "12345"
    assert item.contact.phone is None
    assert item.meta["sender_not_a_phone"] is True


# ---- Twilio receipts -------------------------------------------------------------------------------------


async def test_twilio_receipts(twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver) -> None:
    sent = await twilio.send(out("hello"))
    for status in ("queued", "sent", "delivered"):
        fired = await asyncio.to_thread(emu.fire_twilio_status, sent.external_id, status)
        assert fired.status == 200
    keys = [e.key for e in receiver.events]
    assert keys == [
        f"st:{sent.external_id}:queued",
        f"st:{sent.external_id}:sent",
        f"st:{sent.external_id}:delivered",
    ]
    items = [await twilio.parse(e) for e in receiver.events]
    assert items[0] == []  # queued changes nothing
    [sent_receipt], [delivered] = items[1], items[2]
    assert isinstance(delivered, DeliveryReceipt)
    assert (sent_receipt.state, delivered.state) == ("sent", "delivered")
    assert delivered.external_message_id == sent.external_id
    assert delivered.error is None


@pytest.mark.parametrize("status", ["undelivered", "failed"])
async def test_twilio_failed_receipt(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver, status: str
) -> None:
    sent = await twilio.send(out("hello"))
    await asyncio.to_thread(emu.fire_twilio_status, sent.external_id, status, error_code="30003")
    [receipt] = await twilio.parse(receiver.events[0])
    assert isinstance(receipt, DeliveryReceipt)
    assert receipt.state == "failed"
    assert receipt.error is not None and "30003" in receipt.error and "unreachable" in receipt.error


async def test_twilio_duplicate_callbacks_share_a_key(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    sent = await twilio.send(out("hello"))
    for _ in range(2):
        await asyncio.to_thread(emu.fire_twilio_status, sent.external_id, "delivered")
    headers, body, sid = emu.twilio_inbound_request(
        receiver.url(1), sender=CUSTOMER, to=SHOP_NUMBER, body="x"
    )
    for _ in range(2):
        await asyncio.to_thread(_post_raw, receiver.url(1), headers, body)
    keys = [e.key for e in receiver.events]
    assert keys == [f"st:{sent.external_id}:delivered"] * 2 + [f"in:{sid}"] * 2


async def test_twilio_forged_status_rejected(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    sent = await twilio.send(out("hello"))
    fired = await asyncio.to_thread(emu.fire_twilio_status, sent.external_id, "delivered", forge=True)
    assert fired.status == 403
    assert receiver.events == []


async def test_twilio_status_posted_to_inbound_url(
    twilio: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    sent = await twilio.send(out("hello"))
    await asyncio.to_thread(emu.fire_twilio_status, sent.external_id, "delivered", url=receiver.url(1))
    [receipt] = await twilio.parse(receiver.events[0])
    assert isinstance(receipt, DeliveryReceipt) and receipt.state == "delivered"


# ---- SMS.ru callbacks ------------------------------------------------------------------------------------


async def test_smsru_callback_several_entries(
    smsru: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    first = await smsru.send(out("one"))
    second = await smsru.send(out("two"))
    entries = [
        f"sms_status\n{first.external_id}\n102\n1764064800",
        f"sms_status\n{first.external_id}\n103\n1764064860",
        f"sms_status\n{second.external_id}\n104\n1764064900",
        "callcheck_status\n201737-542\n401\n1764064900",
    ]
    url = receiver.url(2, "status", f"token={WEBHOOK_TOKEN}")
    fired = await asyncio.to_thread(emu.fire_smsru_callback, url, entries)
    assert (fired.status, fired.body) == (200, "100")
    keys = [e.key for e in receiver.events]
    assert keys[:3] == [
        f"st:{first.external_id}:102",
        f"st:{first.external_id}:103",
        f"st:{second.external_id}:104",
    ]
    assert keys[3].startswith("other:")
    parsed = [await smsru.parse(e) for e in receiver.events]
    assert parsed[3] == []
    receipts = [p[0] for p in parsed[:3]]
    assert all(isinstance(r, DeliveryReceipt) for r in receipts)
    assert [(r.external_message_id, r.state) for r in receipts] == [
        (first.external_id, "sent"),
        (first.external_id, "delivered"),
        (second.external_id, "failed"),
    ]
    assert receipts[1].at.timestamp() == 1764064860
    assert receipts[2].error is not None and "104" in receipts[2].error and "lifetime" in receipts[2].error
    assert receipts[0].error is None


async def test_smsru_duplicate_callbacks_share_a_key(
    smsru: SMSChannel, emu: SMSEmulator, receiver: Receiver
) -> None:
    url = receiver.url(2, "", f"token={WEBHOOK_TOKEN}")  # SMS.ru has one URL; the inbound path works too
    entry = "sms_status\n000000-1000001\n103\n1764064860"
    for _ in range(2):
        assert (await asyncio.to_thread(emu.fire_smsru_callback, url, [entry])).body == "100"
    assert [e.key for e in receiver.events] == ["st:000000-1000001:103"] * 2
    assert receiver.events[0].payload == receiver.events[1].payload


@pytest.mark.parametrize("query", ["", "token=wrong", f"token={WEBHOOK_TOKEN}x"])
async def test_smsru_callback_bad_token(
    smsru: SMSChannel, emu: SMSEmulator, receiver: Receiver, query: str
) -> None:
    fired = await asyncio.to_thread(
        emu.fire_smsru_callback, receiver.url(2, "status", query), ["sms_status\n1\n103"]
    )
    assert fired.status == 403
    assert receiver.events == []


async def test_smsru_without_configured_token_rejects_everything(emu: SMSEmulator, tmp_path: Path) -> None:
    account = smsru_account(emu)
    bare = AccountConfig(
        account.id, account.kind, account.name, account.settings, {"api_id": emu.smsru_api_id}
    )
    channel = SMSChannel(bare, make_settings(tmp_path))
    try:
        headers, body = emu.smsru_callback_request(["sms_status\n1\n103"])
        request = WebhookRequest(
            headers={"content-type": headers["Content-Type"]}, body=body, query={"token": ""}, url="http://x/"
        )
        with pytest.raises(WebhookRejected, match="not configured"):
            channel.handle_webhook(request)
    finally:
        await channel.close()


async def test_smsru_hash_verification(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(smsru_account(emu, verify_hash=True), make_settings(tmp_path))
    try:
        entries = ["sms_status\n000000-1\n103\n1764064860", "sms_status\n000000-2\n102\n1764064861"]
        headers, body = emu.smsru_callback_request(entries)

        def request(data: bytes) -> WebhookRequest:
            return WebhookRequest(
                headers={"content-type": headers["Content-Type"]},
                body=data,
                query={"token": WEBHOOK_TOKEN},
                url="http://x/",
                sub_path="status",
            )

        assert len(channel.handle_webhook(request(body)).events) == 2
        _, unhashed = emu.smsru_callback_request(entries, with_hash=False)
        with pytest.raises(WebhookRejected, match="bad hash"):
            channel.handle_webhook(request(unhashed))
        _, other = emu.smsru_callback_request(entries[:1])
        tampered = unhashed + b"&hash=" + dict(parse_qsl(other.decode()))["hash"].encode()
        with pytest.raises(WebhookRejected, match="bad hash"):
            channel.handle_webhook(request(tampered))
    finally:
        await channel.close()


async def test_smsru_multipart_callback_and_malformed_entry(smsru: SMSChannel) -> None:
    boundary = "----smsru"
    fields = [
        ("data[1]", "sms_status\nabc-2\n108\n1764064900"),
        ("data[0]", "sms_status\nabc-1"),
        ("hash", "x"),
    ]
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields
        )
        + f"--{boundary}--\r\n"
    )
    request = WebhookRequest(
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        body=body.encode(),
        query={"token": WEBHOOK_TOKEN},
        url="http://x/",
        sub_path="status",
    )
    result = smsru.handle_webhook(request)
    assert result.body == "100"
    first, second = result.events  # ordered by data[N]
    assert first.payload["type"] == "other" and first.payload["what"] == "sms_status:malformed"
    assert second.key == "st:abc-2:108"
    [receipt] = await smsru.parse(second)
    assert (
        isinstance(receipt, DeliveryReceipt)
        and receipt.state == "failed"
        and "rejected" in (receipt.error or "")
    )


async def test_smsru_empty_callback_is_acknowledged(smsru: SMSChannel) -> None:
    request = WebhookRequest(
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"",
        query={"token": WEBHOOK_TOKEN},
        url="x",
    )
    result = smsru.handle_webhook(request)
    assert (result.events, result.body) == ((), "100")


def test_smsru_webhook_url_carries_token(emu: SMSEmulator, tmp_path: Path) -> None:
    channel = SMSChannel(smsru_account(emu, 9), make_settings(tmp_path, public_url="https://inbox.example/"))
    assert channel.webhook_urls() == {
        "status": f"https://inbox.example/webhooks/sms/9/status?token={WEBHOOK_TOKEN}"
    }


async def test_smsru_has_no_media(smsru: SMSChannel) -> None:
    with pytest.raises(MediaUnavailable):
        await smsru.fetch(Attachment(kind="photo", filename="x", ref="http://x/y"))


# ---- request hygiene and configuration -------------------------------------------------------------------


async def test_oversized_and_garbage_bodies(twilio: SMSChannel) -> None:
    huge = WebhookRequest(headers={}, body=b"x" * (1024 * 1024 + 1), query={}, url="http://x/")
    with pytest.raises(WebhookRejected) as info:
        twilio.handle_webhook(huge)
    assert info.value.status == 413
    bad = WebhookRequest(
        headers={"content-type": "application/x-www-form-urlencoded"}, body=b"\xff\xfe", query={}, url="x"
    )
    with pytest.raises(WebhookRejected) as info:
        twilio.handle_webhook(bad)
    assert info.value.status == 400
    jsonish = WebhookRequest(headers={"content-type": "application/json"}, body=b"{}", query={}, url="x")
    with pytest.raises(WebhookRejected) as info:
        twilio.handle_webhook(jsonish)
    assert info.value.status == 415


async def test_unknown_raw_event_type(twilio: SMSChannel) -> None:
    with pytest.raises(ValueError, match="unknown SMS raw event type"):
        await twilio.parse(RawEvent("k", {"type": "mystery"}))


@pytest.mark.parametrize(
    ("settings", "secrets", "reason"),
    [
        ({"provider": "smsc", "from": "X"}, {}, "smsc provider is not supported"),
        ({"provider": "nexmo"}, {}, "must be twilio or smsru"),
        ({}, {}, "must be twilio or smsru"),
        ({"provider": "twilio", "from": SHOP_NUMBER}, {"account_sid": "AC1"}, "account_sid and auth_token"),
        ({"provider": "twilio"}, {"account_sid": "AC1", "auth_token": "t"}, "'from'"),
        ({"provider": "smsru"}, {}, "api_id"),
        ({"provider": "smsru", "max_parts": 0}, {"api_id": "x"}, "max_parts"),
        ({"provider": "smsru", "max_parts": "many"}, {"api_id": "x"}, "max_parts"),
        ({"provider": "smsru", "attachments": "drop"}, {"api_id": "x"}, "attachments"),
    ],
)
def test_configuration_errors(
    tmp_path: Path, settings: dict[str, Any], secrets: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SMSConfigError, match=reason):
        SMSChannel(AccountConfig(1, ChannelKind.SMS, "bad", settings, secrets), make_settings(tmp_path))


# ---- the emulator as a separate process ------------------------------------------------------------------


def _post_raw(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _control(base: str, action: str, payload: dict[str, Any] | None = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{base}/_control/{action}", data=data, method="GET" if data is None else "POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def emulator_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.sms", "--port", str(port), "--twilio-token", "proc-token"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_emulator_process_and_control_api(
    emulator_process: str, receiver: Receiver, tmp_path: Path
) -> None:
    base = emulator_process
    config: dict[str, Any] | None = None
    deadline = time.monotonic() + 15
    while config is None and time.monotonic() < deadline:
        try:
            config = await asyncio.to_thread(_control, base, "config")
        except OSError:
            await asyncio.sleep(0.05)
    assert config is not None, "emulator process did not start"
    assert config["twilio_token"] == "proc-token"
    account = AccountConfig(
        3,
        ChannelKind.SMS,
        "proc",
        {
            "provider": "twilio",
            "from": SHOP_NUMBER,
            "api_base": base,
            "status_callback_url": receiver.url(3, "status"),
        },
        {"account_sid": config["twilio_sid"], "auth_token": config["twilio_token"]},
    )
    channel = SMSChannel(account, make_settings(tmp_path))
    receiver.channels[3] = channel
    try:
        await asyncio.to_thread(
            _control, base, "fail", {"provider": "twilio", "http_status": 503, "code": 20503}
        )
        with pytest.raises(TransientSendError):
            await channel.send(out("hello"))
        sent = await channel.send(out("hello"))
        records = await asyncio.to_thread(_control, base, "sent")
        assert [r["sid"] for r in records] == [sent.external_id]
        fired = await asyncio.to_thread(
            _control, base, "twilio/status", {"sid": sent.external_id, "status": "delivered"}
        )
        assert fired["status"] == 200
        fired = await asyncio.to_thread(
            _control,
            base,
            "twilio/inbound",
            {
                "url": receiver.url(3),
                "sender": CUSTOMER,
                "to": SHOP_NUMBER,
                "body": "thanks",
                "forge": True,
            },
        )
        assert fired["status"] == 403
        assert [e.key for e in receiver.events] == [f"st:{sent.external_id}:delivered"]
        await asyncio.to_thread(_control, base, "reset", {})
        assert await asyncio.to_thread(_control, base, "sent") == []
    finally:
        await channel.close()
