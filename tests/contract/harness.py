"""What the channel contract suite needs from each channel: a harness per kind that builds the real adapter
against its emulator (the provider's documented wire format) and plays the provider's side.

A harness lists the behaviours its channel has (``features``); the suite runs each test over the harnesses
that have the feature, so a channel without delivery receipts or buttons simply has no such test (no
skips). A new channel (the widget) adds a harness class here and its name to ``HARNESSES``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from inbox.channels.registry import build_channel
from inbox.core.types import (
    AccountConfig,
    Channel,
    OutboundMessage,
    RawEvent,
    SentMessage,
    WebhookRequest,
)
from inbox.settings import Settings
from tests.emulators import telegram as tg
from tests.emulators import vk as vkemu
from tests.emulators.sms import SMSEmulator
from tests.services import free_port

T = TypeVar("T")
ACCOUNT_ID = 1
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
ALL_FEATURES = (
    "send_ack",
    "inbound_text",
    "media",
    "redelivery",
    "send",
    "transient",
    "permanent",
    "buttons",
    "receipts",
)
_ids = itertools.count(1000)
# What every provider-backed channel does; buttons and delivery receipts where the channel has them.
COMMON = frozenset({"send_ack", "inbound_text", "media", "redelivery", "send", "transient", "permanent"})


class LoopThread:
    """An event loop in a thread for the aiohttp emulators, so that they live for the whole session while
    each test runs on its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def settings_for(tmp: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'unused.sqlite3'}",
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp / "data",
        public_url="https://shop.example",
    )


class Harness:
    """The provider's side of one channel kind. Subclasses fill in what their ``features`` need."""

    kind: ClassVar[str]
    features: ClassVar[frozenset[str]]
    chat_id: str = ""

    def account(self) -> AccountConfig:
        raise NotImplementedError

    def channel(self, settings: Settings) -> Channel:
        return build_channel(self.account(), settings)

    def reset(self) -> None:
        """Forget what earlier tests sent and any fault they left."""

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        """The provider delivers a customer's text (``provider_id``: its id, the same on redelivery)."""
        raise NotImplementedError

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        raise NotImplementedError

    def sent_texts(self) -> list[str]:
        raise NotImplementedError

    def sent_button_labels(self) -> list[str]:
        raise NotImplementedError

    def press(self, channel: Channel, label: str) -> list[RawEvent]:
        """The customer presses the button ``label`` of the last message sent: the provider's callback."""
        raise NotImplementedError

    def fail_next_send(self, how: str) -> None:
        """``how``: "transient" (rate limit / 5xx) or "permanent" (blocked / invalid recipient)."""
        raise NotImplementedError

    def receipt(self, channel: Channel, sent: SentMessage, state: str) -> list[RawEvent]:
        raise NotImplementedError

    def outbound(self, text: str, **kw: Any) -> OutboundMessage:
        return OutboundMessage(
            account_id=ACCOUNT_ID,
            chat_id=self.chat_id,
            text=text,
            idempotency_key=f"outbox-{next(_ids)}",
            **kw,
        )


# ---- Telegram --------------------------------------------------------------------------------------------


class TelegramHarness(Harness):
    kind = "telegram"
    features = frozenset(
        {"send_ack", "inbound_text", "media", "redelivery", "send", "transient", "permanent", "buttons"}
    )
    SECRET = "contract-secret_0123"

    def __init__(self, loop: LoopThread) -> None:
        self.emu = tg.TelegramEmulator()
        self.base = loop.run(self.emu.start())
        self.chat_id = "385712904"

    def account(self) -> AccountConfig:
        return AccountConfig(
            id=ACCOUNT_ID,
            kind="telegram",
            name="contract-bot",
            settings={"mode": "webhook", "public_url": "https://shop.example", "api_base": self.base},
            secrets={"token": tg.DEFAULT_TOKEN, "webhook_secret": self.SECRET},
        )

    def reset(self) -> None:
        self.emu.reset()

    def _deliver(self, channel: Channel, update: dict[str, Any]) -> list[RawEvent]:
        request = WebhookRequest(
            headers={"content-type": "application/json", "x-telegram-bot-api-secret-token": self.SECRET},
            body=json.dumps(update, ensure_ascii=False).encode(),
            query={},
            url=f"https://shop.example/webhooks/telegram/{ACCOUNT_ID}",
        )
        return list(channel.handle_webhook(request).events)

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        update = tg.text_update(int(self.chat_id), text, message_id=int(provider_id))
        update["update_id"] = int(provider_id)
        return self._deliver(channel, update)

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        stored = self.emu.add_file(data, "photo.jpg", folder="photos")
        update = tg.photo_update(int(self.chat_id), stored.file_id, caption=None, message_id=next(_ids))
        for size in update["message"]["photo"]:  # every size is the one stored file
            size.update(file_id=stored.file_id, file_size=len(data))
        update["update_id"] = next(_ids)
        return self._deliver(channel, update)

    def sent_texts(self) -> list[str]:
        return [str(r.params.get("text", "")) for r in self.emu.requests("sendMessage") if r.fault is None]

    def sent_button_labels(self) -> list[str]:
        labels: list[str] = []
        for r in self.emu.requests("sendMessage"):
            markup = r.params.get("reply_markup") or {}
            markup = json.loads(markup) if isinstance(markup, str) else markup
            labels += [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
        return labels

    def press(self, channel: Channel, label: str) -> list[RawEvent]:
        markup = self.emu.requests("sendMessage")[-1].params.get("reply_markup") or {}
        markup = json.loads(markup) if isinstance(markup, str) else markup
        button = next(b for row in markup["inline_keyboard"] for b in row if b["text"] == label)
        update = tg.callback_update(int(self.chat_id), button["callback_data"])
        update["update_id"] = next(_ids)
        return self._deliver(channel, update)

    def fail_next_send(self, how: str) -> None:
        if how == "transient":
            self.emu.fail("sendMessage", "retry_after", retry_after=3)
        else:
            self.emu.fail("sendMessage", "blocked")


# ---- VK --------------------------------------------------------------------------------------------------


class VKHarness(Harness):
    kind = "vk"
    features = frozenset(
        {"send_ack", "inbound_text", "media", "redelivery", "send", "transient", "permanent", "buttons"}
    )
    GROUP, TOKEN, SECRET = 77, "vk1.a.contract-community-token", "contract-secret"

    def __init__(self, loop: LoopThread) -> None:
        self.emu = vkemu.VKEmulator(group_id=self.GROUP, token=self.TOKEN, max_wait=1)
        loop.run(self.emu.start())
        self.emu.add_user(101, "Иван", "Петров", "ivan_petrov")
        self.chat_id = "101"

    def account(self) -> AccountConfig:
        return AccountConfig(
            id=ACCOUNT_ID,
            kind="vk",
            name="contract-club",
            settings={
                "group_id": self.GROUP,
                "mode": "callback",
                "api_base": self.emu.base_url,
                "rate": 1000,
            },
            secrets={"token": self.TOKEN, "secret": self.SECRET, "confirmation": "ok1"},
        )

    def reset(self) -> None:
        self.emu.reset()
        self.emu.add_user(101, "Иван", "Петров", "ivan_petrov")

    def _deliver(self, channel: Channel, body: dict[str, Any]) -> list[RawEvent]:
        request = WebhookRequest(
            headers={"content-type": "application/json"},
            body=json.dumps({**body, "secret": self.SECRET}, ensure_ascii=False).encode(),
            query={},
            url=f"https://shop.example/webhooks/vk/{ACCOUNT_ID}",
        )
        return list(channel.handle_webhook(request).events)

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        msg = vkemu.message(101, text, cmid=int(provider_id) % 100000)
        return self._deliver(channel, vkemu.message_new(self.GROUP, msg, event_id=f"ev{provider_id}"))

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        url = self.emu.add_file(f"doc{next(_ids)}.jpg", data)
        attachment = vkemu.doc_attachment(101, next(_ids), "photo.jpg", "jpg", len(data), url)
        msg = vkemu.message(101, "", cmid=next(_ids) % 100000, attachments=[attachment])
        return self._deliver(channel, vkemu.message_new(self.GROUP, msg))

    def sent_texts(self) -> list[str]:
        return [s.text for s in self.emu.sent]

    def sent_button_labels(self) -> list[str]:
        labels: list[str] = []
        for s in self.emu.sent:
            for row in (s.keyboard or {}).get("buttons", []):
                labels += [b["action"]["label"] for b in row]
        return labels

    def press(self, channel: Channel, label: str) -> list[RawEvent]:
        keyboard = self.emu.sent[-1].keyboard or {}
        button = next(b for row in keyboard["buttons"] for b in row if b["action"]["label"] == label)
        payload = button["action"].get("payload")
        payload = json.loads(payload) if isinstance(payload, str) else payload
        event = vkemu.message_event(
            self.GROUP, user_id=101, payload=payload, button_event_id=f"b{next(_ids)}"
        )
        return self._deliver(channel, event)

    def fail_next_send(self, how: str) -> None:
        if how == "transient":
            self.emu.fail("messages.send", 6)  # too many requests per second
        else:
            self.emu.fail("messages.send", 901)  # the user does not allow messages from the community


# ---- SMS (Twilio) ------------------------------------------------------------------------------------------


class SMSHarness(Harness):
    kind = "sms"
    features = frozenset(
        {"send_ack", "inbound_text", "media", "redelivery", "send", "transient", "permanent", "receipts"}
    )
    SHOP = "+15005550006"

    def __init__(self) -> None:
        self.emu = SMSEmulator().start()
        self.chat_id = "+79991234567"

    def account(self) -> AccountConfig:
        return AccountConfig(
            id=ACCOUNT_ID,
            kind="sms",
            name="contract-sms",
            settings={"provider": "twilio", "from": self.SHOP, "api_base": self.emu.base_url},
            secrets={"account_sid": self.emu.twilio_sid, "auth_token": self.emu.twilio_token},
        )

    def reset(self) -> None:
        self.emu.reset()

    @staticmethod
    def _request(headers: dict[str, str], body: bytes, url: str, sub_path: str = "") -> WebhookRequest:
        return WebhookRequest(
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            query={},
            url=url,
            sub_path=sub_path,
        )

    def _url(self, sub_path: str = "") -> str:
        return f"https://shop.example/webhooks/sms/{ACCOUNT_ID}" + (f"/{sub_path}" if sub_path else "")

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        headers, body, _ = self.emu.twilio_inbound_request(
            self._url(), sender=self.chat_id, to=self.SHOP, body=text, sid=f"SM{int(provider_id):032x}"
        )
        return list(channel.handle_webhook(self._request(headers, body, self._url())).events)

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        headers, body, _ = self.emu.twilio_inbound_request(
            self._url(),
            sender=self.chat_id,
            to=self.SHOP,
            body="",
            media=[{"data_b64": base64.b64encode(data).decode(), "content_type": "image/jpeg"}],
        )
        return list(channel.handle_webhook(self._request(headers, body, self._url())).events)

    def sent_texts(self) -> list[str]:
        return [str(s.get("body", "")) for s in self.emu.sent]

    def fail_next_send(self, how: str) -> None:
        if how == "transient":
            self.emu.fail_next("twilio", http_status=503, code=20503, message="Service Unavailable")
        else:
            self.emu.fail_next("twilio", http_status=400, code=21211, message="The 'To' number is not valid.")

    def receipt(self, channel: Channel, sent: SentMessage, state: str) -> list[RawEvent]:
        url = self._url("status")
        headers, body = self.emu.twilio_status_request(url, sid=sent.external_id, status=state)
        return list(channel.handle_webhook(self._request(headers, body, url, "status")).events)


# ---- Email (SMTP out; letters in as the IMAP reader hands them over) -------------------------------------


@dataclass
class _Smtp:
    reply: str | None = None
    received: list[bytes] | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.reply is not None:
            reply, self.reply = self.reply, None
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert self.received is not None
        self.received.append(bytes(envelope.original_content or b""))
        return "250 Message accepted"


def _auth(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"shop" and data.password == b"secret"
    return AuthResult(success=ok, handled=False)


class EmailHarness(Harness):
    kind = "email"
    features = frozenset(
        {"send_ack", "inbound_text", "media", "redelivery", "send", "transient", "permanent"}
    )

    def __init__(self) -> None:
        self.handler = _Smtp(received=[])
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, authenticator=_auth, auth_require_tls=False
        )
        self.controller.start()
        self.chat_id = "anna@example.ru"

    def stop(self) -> None:
        self.controller.stop()

    def account(self) -> AccountConfig:
        return AccountConfig(
            id=ACCOUNT_ID,
            kind="email",
            name="contract-mail",
            settings={
                "address": "shop@romashka.ru",
                "display_name": "Ромашка",
                "imap_host": "127.0.0.1",
                "imap_port": 9,  # never reached: letters come in as the IMAP reader hands them over
                "smtp_host": "127.0.0.1",
                "smtp_port": self.port,
                "security": "none",
                "username": "shop",
                "folders": ["INBOX"],
                "since_days": 30,
            },
            secrets={"password": "secret"},
        )

    def reset(self) -> None:
        assert self.handler.received is not None
        self.handler.received.clear()
        self.handler.reply = None

    @staticmethod
    def _event(letter: EmailMessage, uid: int) -> RawEvent:
        from inbox.channels.email.adapter import event_for
        from inbox.channels.email.imap import FetchedMessage

        return event_for(FetchedMessage(raw=letter.as_bytes(), folder="INBOX", uid=uid, uidvalidity=1))

    def _letter(self, provider_id: str) -> EmailMessage:
        letter = EmailMessage()
        letter["From"] = f"Анна <{self.chat_id}>"
        letter["To"] = "shop@romashka.ru"
        letter["Subject"] = "Заказ"
        letter["Message-ID"] = f"<contract-{provider_id}@example.ru>"
        letter["Date"] = "Mon, 30 Nov 2026 08:00:00 +0000"
        return letter

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        letter = self._letter(provider_id)
        letter.set_content(text)
        return [self._event(letter, int(provider_id))]

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        letter = self._letter(str(next(_ids)))
        letter.set_content("Фото во вложении")
        letter.add_attachment(data, maintype="image", subtype="jpeg", filename="photo.jpg")
        return [self._event(letter, next(_ids))]

    def sent_texts(self) -> list[str]:
        from email import message_from_bytes, policy

        texts = []
        for raw in self.handler.received or []:
            letter = message_from_bytes(raw, policy=policy.default)
            body = letter.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
            texts.append(body.get_content().strip() if body is not None else "")
        return texts

    def fail_next_send(self, how: str) -> None:
        self.handler.reply = "451 4.3.0 try again later" if how == "transient" else "550 5.1.1 no such user"


# ---- Demo (in-process, no provider) ----------------------------------------------------------------------


class DemoHarness(Harness):
    """Demo accounts: the "play the customer" page is the provider (its events, one per press, so no
    redelivery); sending delivers nowhere, so the contract is that a send is acknowledged."""

    kind = "demo"
    features = frozenset({"send_ack", "inbound_text"})

    def __init__(self) -> None:
        self.chat_id = "demo-customer-7"

    def account(self) -> AccountConfig:
        return AccountConfig(ACCOUNT_ID, "telegram", "demo", {"demo": True}, {})

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        from inbox.channels.demo.play import make_event
        from inbox.models import ChannelAccount

        row = ChannelAccount(id=ACCOUNT_ID, kind="telegram", name="demo", settings={"demo": True}, secrets={})
        return [make_event(row, self.chat_id, "Анна", text=text)]


class WidgetHarness(Harness):
    """The website widget: its provider is the visitor's browser, whose calls the widget's routes commit as
    raw events (``channels/widget/events.py``); a send stores nothing remote (the message row is the
    delivery) and is acknowledged. No provider errors, receipts come from the browser's own fetch."""

    kind = "widget"
    features = frozenset({"send_ack", "inbound_text", "media", "redelivery"})

    def __init__(self) -> None:
        self.chat_id = "v:contract-visitor"

    def account(self) -> AccountConfig:
        settings = {"key": "contract-widget-key-0123", "origins": ["https://shop.example"]}
        return AccountConfig(ACCOUNT_ID, "widget", "site", settings, {"secret": "s"})

    def inbound_text(self, channel: Channel, text: str, provider_id: str) -> list[RawEvent]:
        from inbox.channels.widget.events import message_event

        return [message_event(self.chat_id, f"m{provider_id}", text)]

    def inbound_media(self, channel: Channel, data: bytes) -> list[RawEvent]:
        from inbox.channels.widget.events import message_event
        from inbox.core.files import store_bytes

        stored = store_bytes(channel.settings.data_dir, data)  # type: ignore[attr-defined]  # the upload
        info = {
            "path": stored.path,
            "filename": "photo.jpg",
            "content_type": "image/jpeg",
            "size": stored.size,
        }
        return [message_event(self.chat_id, f"m{next(_ids)}", "", [info])]


HARNESSES = ("telegram", "vk", "email", "sms", "demo", "widget")
