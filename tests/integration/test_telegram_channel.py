"""The Telegram adapter against the Bot API emulator, through our Bot API client (botapi.BotApi)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from inbox.channels.splitting import utf16_len
from inbox.channels.telegram.adapter import (
    AttachmentFetchError,
    AttachmentTooLarge,
    TelegramChannel,
    TelegramConfigError,
)
from inbox.channels.telegram.updates import TelegramPayloadError
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Button,
    ChannelKind,
    InboundCallback,
    InboundEdit,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    RawEvent,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
)
from inbox.settings import Settings
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator, text_update
from tests.services import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
ROOT = Path(__file__).parent.parent.parent
SECRET = "wh-secret_0123456789"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


class MemoryPollState:
    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.state: dict[str, Any] = dict(initial or {})
        self.saves: list[dict[str, Any]] = []
        self.saved = asyncio.Event()

    async def load(self) -> dict[str, Any]:
        return dict(self.state)

    async def save(self, state: dict[str, Any]) -> None:
        self.state = dict(state)
        self.saves.append(dict(state))
        self.saved.set()


@pytest.fixture
def tg_settings(tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=data_dir,
        telegram_rate_per_bot=25.0,
        telegram_rate_per_chat=0.5,
    )


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    yield emu
    await emu.stop()


ChannelMaker = Callable[..., TelegramChannel]


@pytest.fixture
async def make_channel(emulator: TelegramEmulator, tg_settings: Settings) -> AsyncIterator[ChannelMaker]:
    made: list[TelegramChannel] = []

    def make(secrets: dict[str, Any] | None = None, **settings: Any) -> TelegramChannel:
        account = AccountConfig(
            id=7,
            kind=ChannelKind.TELEGRAM,
            name="shop-bot",
            settings={"api_base": emulator.base_url, "poll_timeout": 1, **settings},
            secrets={"token": DEFAULT_TOKEN, "webhook_secret": SECRET, **(secrets or {})},
        )
        channel = TelegramChannel(account, tg_settings)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


@pytest.fixture
def channel(make_channel: ChannelMaker) -> TelegramChannel:
    return make_channel()


async def parse_one(channel: TelegramChannel, name: str) -> Any:
    payload = fixture(name)
    items = await channel.parse(RawEvent(key=str(payload["update_id"]), payload=payload))
    assert len(items) == 1
    return items[0]


# ---- configuration ---------------------------------------------------------------------------------------


def test_config_is_checked(tg_settings: Settings) -> None:
    def account(settings: dict[str, Any], secrets: dict[str, Any]) -> AccountConfig:
        return AccountConfig(id=1, kind=ChannelKind.TELEGRAM, name="b", settings=settings, secrets=secrets)

    with pytest.raises(TelegramConfigError, match="token"):
        TelegramChannel(account({}, {"token": "not-a-token"}), tg_settings)
    with pytest.raises(TelegramConfigError, match="mode"):
        TelegramChannel(account({"mode": "push"}, {"token": DEFAULT_TOKEN}), tg_settings)
    with pytest.raises(TelegramConfigError, match="webhook_secret"):
        TelegramChannel(account({}, {"token": DEFAULT_TOKEN, "webhook_secret": "has spaces"}), tg_settings)
    with pytest.raises(TelegramConfigError, match="request_timeout"):
        TelegramChannel(account({"request_timeout": "soon"}, {"token": DEFAULT_TOKEN}), tg_settings)


def test_rates_and_capabilities(channel: TelegramChannel) -> None:
    assert channel.rate_per_account == 25.0
    assert channel.rate_per_chat == 0.5
    caps = TelegramChannel.capabilities
    assert (caps.buttons, caps.edits, caps.max_text_length) == (True, True, 4096)


def test_derived_webhook_secret_is_stable_and_per_account(tg_settings: Settings) -> None:
    def secret_for(account_id: int) -> str:
        acc = AccountConfig(account_id, ChannelKind.TELEGRAM, "b", {}, {"token": DEFAULT_TOKEN})
        return TelegramChannel(acc, tg_settings).webhook_secret

    assert secret_for(1) == secret_for(1)
    assert secret_for(1) != secret_for(2)


# ---- parse -----------------------------------------------------------------------------------------------


async def test_parse_text_with_reply(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "text_reply")
    assert isinstance(item, InboundMessage)
    assert item.kind == ChannelKind.TELEGRAM and item.account_id == 7
    assert item.external_user_id == "385712904"
    assert item.external_message_id == "385712904:2041"
    assert item.text == "Здравствуйте! Когда привезут заказ №1024? 🚚"
    assert item.sent_at == datetime(2025, 11, 25, 12, 0, tzinfo=UTC)
    assert item.contact.display_name == "Анна Смирнова"
    assert item.contact.username == "anna_smirnova"
    assert item.contact.locale == "ru"
    assert item.contact.phone is None
    assert item.thread_hints.reply_to_external_id == "385712904:2038"
    assert item.attachments == ()


async def test_parse_photo_takes_largest_size_and_caption(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "photo_caption")
    assert isinstance(item, InboundMessage)
    assert item.text == "Пришёл с царапиной — можно обменять?"
    (photo,) = item.attachments
    assert (photo.kind, photo.ref, photo.size) == ("photo", "AgACAgIAAxkBAAIH8WdFlarge", 98211)
    assert photo.content_type == "image/jpeg"
    assert item.meta["media_group_id"] == "13849572039485721"


async def test_parse_document(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "document")
    assert isinstance(item, InboundMessage)
    assert item.text is None
    (doc,) = item.attachments
    assert doc == Attachment(
        kind="document",
        filename="Реквизиты ООО Ромашка.pdf",
        content_type="application/pdf",
        size=184320,
        ref="BQACAgIAAxkBAAIH8mdFdoc",
    )


async def test_parse_own_contact_is_vouched(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "contact_own")
    assert isinstance(item, InboundMessage)
    assert item.contact.phone == "+79161234567"
    assert item.contact.phone_unverified is None
    assert item.contact.display_name == "Анна Смирнова"
    assert item.text == "[contact] Анна Смирнова +79161234567"
    assert item.meta["contact"]["own"] is True


async def test_parse_someone_elses_contact_is_only_a_suggestion(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "contact_other")
    assert isinstance(item, InboundMessage)
    assert item.contact.phone is None
    assert item.contact.phone_unverified == "+79037654321"
    assert item.meta["contact"]["own"] is False


async def test_parse_edited_message(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "edited_message")
    assert item == InboundEdit(
        kind=ChannelKind.TELEGRAM,
        account_id=7,
        external_user_id="385712904",
        external_message_id="385712904:2041",
        edited_at=datetime.fromtimestamp(1764072300, UTC),
        text="Здравствуйте! Когда привезут заказ №1025?",
    )


async def test_parse_callback_query(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "callback_query")
    assert isinstance(item, InboundCallback)
    assert item.callback_id == "1656567327851934521"
    assert item.payload == "order:1026:confirm"
    assert item.external_user_id == "385712904"
    assert item.contact.display_name == "Анна Смирнова"
    assert item.at.tzinfo is not None


async def test_parse_sticker_placeholder(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "sticker")
    assert isinstance(item, InboundMessage)
    assert item.text == "[sticker 👍]"
    assert item.meta["sticker"] == {"emoji": "👍", "set_name": "HotCherry"}
    assert item.contact.display_name == "Дмитрий"
    assert item.contact.locale is None


async def test_parse_username_only_sender(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "username_only")
    assert isinstance(item, InboundMessage)
    assert item.contact.display_name == "@shopper2026"
    assert item.contact.locale == "en"


async def test_parse_voice(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "voice")
    assert isinstance(item, InboundMessage)
    (voice,) = item.attachments
    assert (voice.kind, voice.content_type, voice.ref) == ("voice", "audio/ogg", "AwACAgIAAxkBAAIvoice")


async def test_parse_group_message_keeps_chat_and_sender(channel: TelegramChannel) -> None:
    item = await parse_one(channel, "group_message")
    assert isinstance(item, InboundMessage)
    assert item.external_user_id == "-1001234567890"
    assert item.meta["chat_type"] == "supergroup"
    assert item.meta["sender_id"] == 385712904


async def test_parse_unknown_update_type_gives_nothing(channel: TelegramChannel) -> None:
    payload = fixture("my_chat_member")
    assert await channel.parse(RawEvent(key="918273655", payload=payload)) == []


async def test_parse_malformed_update_raises_with_reason(channel: TelegramChannel) -> None:
    with pytest.raises(TelegramPayloadError, match="chat must be an object"):
        await channel.parse(
            RawEvent(key="1", payload={"update_id": 1, "message": {"message_id": 1, "date": 1}})
        )
    with pytest.raises(TelegramPayloadError, match="update_id"):
        await channel.parse(RawEvent(key="x", payload={"message": {}}))


# ---- polling ---------------------------------------------------------------------------------------------

ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


async def _run_until(
    channel: TelegramChannel,
    sink: Callable[[list[RawEvent]], Awaitable[None]],
    state: MemoryPollState,
    saves: int,
) -> None:
    task = asyncio.create_task(channel.run(sink, state))
    try:
        async with asyncio.timeout(10):
            while len(state.saves) < saves:
                state.saved.clear()
                await state.saved.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_polling_delivers_updates_in_order_and_saves_offset_after_sink(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    payloads = sorted((fixture(n) for n in ALL_FIXTURES), key=lambda u: u["update_id"])
    for payload in reversed(payloads):  # queued out of order: the emulator orders by update_id
        emulator.queue_update(payload)
    state = MemoryPollState()
    received: list[RawEvent] = []
    saves_seen_by_sink: list[int] = []

    async def sink(events: list[RawEvent]) -> None:
        saves_seen_by_sink.append(len(state.saves))
        received.extend(events)

    await _run_until(channel, sink, state, saves=1)
    assert [e.key for e in received] == [str(p["update_id"]) for p in payloads]
    # the payload is the update as Telegram sent it (aiogram's parse/dump round trip loses nothing)
    assert [e.payload for e in received] == payloads
    assert saves_seen_by_sink == [0]  # the offset was saved only after the sink returned
    assert state.state == {"offset": payloads[-1]["update_id"] + 1}


async def test_failing_sink_never_advances_offset(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    first = emulator.queue_update(text_update(42, "раз"))
    second = emulator.queue_update(text_update(42, "два"))
    state = MemoryPollState({"cursor": "kept"})
    calls: list[tuple[list[str], int]] = []

    async def sink(events: list[RawEvent]) -> None:
        calls.append(([e.key for e in events], len(state.saves)))
        if len(calls) == 1:
            raise RuntimeError("database is down")

    await _run_until(channel, sink, state, saves=1)
    keys = [str(first["update_id"]), str(second["update_id"])]
    assert calls == [(keys, 0), (keys, 0)]  # redelivered; nothing saved after the failure
    assert state.saves == [{"cursor": "kept", "offset": second["update_id"] + 1}]


async def test_polling_resumes_from_saved_offset(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    old = emulator.queue_update(text_update(42, "уже обработано"))
    new = emulator.queue_update(text_update(42, "новое"))
    state = MemoryPollState({"offset": new["update_id"]})
    received: list[str] = []

    async def sink(events: list[RawEvent]) -> None:
        received.extend(e.key for e in events)

    await _run_until(channel, sink, state, saves=1)
    assert received == [str(new["update_id"])]
    assert emulator.requests("getUpdates")[0].params["offset"] == new["update_id"]
    assert old["update_id"] < new["update_id"]


async def test_polling_backs_off_and_recovers_from_server_errors(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    emulator.fail("getUpdates", "server_error", status=502, description="Bad Gateway")
    update = emulator.queue_update(text_update(42, "после сбоя"))
    state = MemoryPollState()
    received: list[str] = []

    async def sink(events: list[RawEvent]) -> None:
        received.extend(e.key for e in events)

    await _run_until(channel, sink, state, saves=1)
    assert received == [str(update["update_id"])]
    assert [r.fault for r in emulator.requests("getUpdates")][:2] == ["server_error", None]


async def test_start_in_polling_mode_deletes_the_webhook(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    emulator.bot().webhook_url = "https://old.example/hook"
    await channel.start()
    (req,) = emulator.requests("deleteWebhook")
    assert req.params.get("drop_pending_updates") in (None, False)
    assert emulator.bot().webhook_url == ""


# ---- webhook ---------------------------------------------------------------------------------------------


def _webhook(body: bytes, secret: str | None = SECRET, sub_path: str = "") -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    return WebhookRequest(
        headers=headers,
        body=body,
        query={},
        url="https://shop.example/webhooks/telegram/7",
        sub_path=sub_path,
    )


async def test_start_in_webhook_mode_sets_url_and_secret(
    emulator: TelegramEmulator, make_channel: ChannelMaker
) -> None:
    channel = make_channel(mode="webhook", public_url="https://shop.example/")
    await channel.start()
    (req,) = emulator.requests("setWebhook")
    assert req.params["url"] == "https://shop.example/webhooks/telegram/7"
    assert req.params["secret_token"] == SECRET
    # and run() has nothing to poll
    await channel.run(_never_sink, MemoryPollState())
    assert emulator.requests("getUpdates") == []


async def _never_sink(events: list[RawEvent]) -> None:
    raise AssertionError("no events expected")


async def test_webhook_mode_without_public_url_is_a_config_error(make_channel: ChannelMaker) -> None:
    channel = make_channel(mode="webhook")
    with pytest.raises(TelegramConfigError, match="public_url"):
        await channel.start()


def test_webhook_accepts_good_secret(channel: TelegramChannel) -> None:
    payload = fixture("text_reply")
    result = channel.handle_webhook(_webhook(json.dumps(payload, ensure_ascii=False).encode()))
    assert result.status == 200
    # The chat goes with the raw event: the processor keeps per-chat order by it.
    chat = str(payload["message"]["chat"]["id"])
    assert result.events == (RawEvent(key="918273645", payload=payload, chat=chat),)


@pytest.mark.parametrize(
    ("body", "secret", "status", "reason"),
    [
        (b'{"update_id": 1}', None, 401, "missing"),
        (b'{"update_id": 1}', "wrong-secret", 401, "wrong"),
        (b'{"update_id": 1}', "секрет", 401, "wrong"),
        (b'{"update_id": 1,', SECRET, 400, "not valid JSON"),
        (b"\xff\xfe", SECRET, 400, "not valid JSON"),
        (b"[1, 2]", SECRET, 400, "JSON object"),
        (b'{"update_id": "1"}', SECRET, 400, "update_id"),
        (b'{"update_id": true}', SECRET, 400, "update_id"),
    ],
)
def test_webhook_rejections(
    channel: TelegramChannel, body: bytes, secret: str | None, status: int, reason: str
) -> None:
    with pytest.raises(WebhookRejected, match=reason) as info:
        channel.handle_webhook(_webhook(body, secret))
    assert info.value.status == status


def test_webhook_rejects_oversized_body_and_sub_paths(channel: TelegramChannel) -> None:
    big = b'{"update_id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    with pytest.raises(WebhookRejected) as info:
        channel.handle_webhook(_webhook(big))
    assert info.value.status == 413
    with pytest.raises(WebhookRejected) as info:
        channel.handle_webhook(_webhook(b'{"update_id": 1}', sub_path="status"))
    assert info.value.status == 404


async def test_emulator_delivers_to_the_webhook_with_the_secret(
    emulator: TelegramEmulator, make_channel: ChannelMaker
) -> None:
    """Emulator in webhook mode -> a real HTTP receiver -> handle_webhook; a rejected call is retried."""
    received: list[RawEvent] = []
    statuses: list[int] = []
    got = asyncio.Event()
    channel: TelegramChannel | None = None

    async def receive(request: web.Request) -> web.Response:
        assert channel is not None
        req = WebhookRequest(
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
            query=dict(request.query),
            url=str(request.url),
        )
        if len(statuses) == 0:  # the first delivery fails: the emulator must retry it
            statuses.append(503)
            return web.Response(status=503)
        try:
            result = channel.handle_webhook(req)
        except WebhookRejected as exc:
            statuses.append(exc.status)
            return web.Response(status=exc.status, text=exc.reason)
        statuses.append(result.status)
        received.extend(result.events)
        got.set()
        return web.Response(text=result.body)

    app = web.Application()
    app.router.add_post("/webhooks/telegram/{account}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        channel = make_channel(mode="webhook", public_url=f"http://127.0.0.1:{port}")
        await channel.start()
        update = emulator.queue_update(fixture("photo_caption") | {"update_id": 555})
        async with asyncio.timeout(10):
            await got.wait()
        assert statuses == [503, 200]
        assert received == [RawEvent(key="555", payload=update, chat=str(update["message"]["chat"]["id"]))]
        assert emulator.bot().webhook_last_error is not None
    finally:
        await runner.cleanup()


# ---- send ------------------------------------------------------------------------------------------------


def out(text: str = "Здравствуйте! Заказ №1024 уже в пути.", **kw: Any) -> OutboundMessage:
    return OutboundMessage(account_id=7, chat_id="385712904", text=text, idempotency_key="outbox-1", **kw)


async def test_send_text(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    sent = await channel.send(out())
    (req,) = emulator.requests("sendMessage")
    assert req.params["chat_id"] == 385712904
    assert req.params["text"] == "Здравствуйте! Заказ №1024 уже в пути."
    assert "reply_markup" not in req.params
    message = emulator.bot().sent[-1]
    assert sent.external_id == f"385712904:{message['message_id']}"


async def test_send_long_text_is_split_under_the_limit(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    paragraph = "Состав заказа: футболка 😀, кружка, блокнот. " * 40
    text = "\n\n".join([paragraph.strip()] * 5)  # ~9000 characters, emoji count double
    sent = await channel.send(out(text, buttons=((Button("Оплатить", payload="pay:1024"),),)))
    reqs = emulator.requests("sendMessage")
    assert len(reqs) >= 3
    assert all(utf16_len(r.params["text"]) <= 4096 for r in reqs)
    assert "".join(r.params["text"] for r in reqs).replace("\n", "").replace(" ", "") == text.replace(
        "\n", ""
    ).replace(" ", "")
    assert [("reply_markup" in r.params) for r in reqs] == [False] * (len(reqs) - 1) + [True]
    assert len(sent.meta["parts"]) == len(reqs)


async def test_send_buttons_and_reply(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    buttons = (
        (
            Button("✅ Подтвердить", payload="order:1026:confirm"),
            Button("❌ Отменить", payload="order:1026:cancel"),
        ),
        (Button("Отследить", url="https://shop.example/track/1026"),),
    )
    await channel.send(out("Подтвердите заказ", buttons=buttons, reply_to_external_id="385712904:2041"))
    (req,) = emulator.requests("sendMessage")
    assert req.params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "✅ Подтвердить", "callback_data": "order:1026:confirm"},
                {"text": "❌ Отменить", "callback_data": "order:1026:cancel"},
            ],
            [{"text": "Отследить", "url": "https://shop.example/track/1026"}],
        ]
    }
    assert req.params["reply_parameters"]["message_id"] == 2041


async def test_send_bad_buttons_are_permanent(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    with pytest.raises(PermanentSendError, match="64"):
        await channel.send(out(buttons=((Button("x", payload="я" * 40),),)))
    with pytest.raises(PermanentSendError, match="neither"):
        await channel.send(out(buttons=((Button("x"),),)))
    assert emulator.requests("sendMessage") == []


async def test_send_photo_from_data_dir_with_caption(
    emulator: TelegramEmulator, channel: TelegramChannel, tg_settings: Settings
) -> None:
    (tg_settings.data_dir / "uploads").mkdir()
    (tg_settings.data_dir / "uploads" / "p.jpg").write_bytes(b"\xff\xd8\xff\xe0JPEGDATA")
    photo = Attachment(kind="photo", filename="товар.jpg", content_type="image/jpeg", path="uploads/p.jpg")
    sent = await channel.send(out("Вот фото", attachments=(photo,)))
    assert emulator.requests("sendMessage") == []
    (req,) = emulator.requests("sendPhoto")
    assert req.params["chat_id"] == 385712904
    assert req.params["caption"] == "Вот фото"
    assert req.files["photo"].data == b"\xff\xd8\xff\xe0JPEGDATA"
    assert req.files["photo"].filename == "товар.jpg"
    assert sent.external_id.startswith("385712904:")


async def test_send_document_after_long_text(
    emulator: TelegramEmulator, channel: TelegramChannel, tmp_path: Path
) -> None:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(b"%PDF-1.7 invoice")
    doc = Attachment(
        kind="document", filename="Счёт 1024.pdf", content_type="application/pdf", path=str(path)
    )
    text = "Подробности заказа. " * 80  # longer than a caption
    buttons = ((Button("Ок", payload="ok"),),)
    await channel.send(out(text, attachments=(doc,), buttons=buttons))
    (msg_req,) = emulator.requests("sendMessage")
    (doc_req,) = emulator.requests("sendDocument")
    assert "caption" not in doc_req.params
    assert doc_req.files["document"].data == b"%PDF-1.7 invoice"
    assert doc_req.files["document"].filename == "Счёт 1024.pdf"
    assert "reply_markup" not in msg_req.params and "reply_markup" in doc_req.params
    assert emulator.recorded.index(msg_req) < emulator.recorded.index(doc_req)


async def test_send_missing_file_or_empty_message_is_permanent(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    missing = Attachment(kind="document", filename="a.pdf", path="uploads/nope.pdf")
    with pytest.raises(PermanentSendError, match="missing"):
        await channel.send(out(attachments=(missing,)))
    escaping = Attachment(kind="document", filename="a.pdf", path="../../etc/passwd")
    with pytest.raises(PermanentSendError, match="escapes"):
        await channel.send(out(attachments=(escaping,)))
    with pytest.raises(PermanentSendError, match="nothing to send"):
        await channel.send(out("   "))
    with pytest.raises(PermanentSendError, match="chat id"):
        await channel.send(OutboundMessage(account_id=7, chat_id="anna", text="hi", idempotency_key="k"))
    assert emulator.recorded == []


async def test_429_is_transient_with_retry_after(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    emulator.fail("sendMessage", "retry_after", retry_after=7)
    with pytest.raises(TransientSendError) as info:
        await channel.send(out())
    assert info.value.retry_after == 7.0
    await channel.send(out())  # the fault was used up
    assert [r.fault for r in emulator.requests("sendMessage")] == ["retry_after", None]


async def test_403_blocked_is_permanent(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    emulator.fail("sendMessage", "blocked")
    with pytest.raises(PermanentSendError, match="bot was blocked by the user"):
        await channel.send(out())


async def test_chat_not_found_is_permanent(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    emulator.fail("sendMessage", "error", status=400, description="Bad Request: chat not found")
    with pytest.raises(PermanentSendError, match="chat not found"):
        await channel.send(out())


async def test_500_is_transient(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    emulator.fail("sendMessage", "server_error")
    with pytest.raises(TransientSendError) as info:
        await channel.send(out())
    assert info.value.retry_after is None
    assert "Internal Server Error" in info.value.reason


async def test_hang_is_transient(emulator: TelegramEmulator, make_channel: ChannelMaker) -> None:
    channel = make_channel(request_timeout=0.3)
    emulator.fail("sendMessage", "hang", seconds=5)
    with pytest.raises(TransientSendError, match="timeout"):
        await channel.send(out())


async def test_failure_after_first_part_says_what_was_delivered(
    emulator: TelegramEmulator, channel: TelegramChannel, tmp_path: Path
) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"a")
    doc = Attachment(kind="document", filename="a.txt", path=str(path))
    emulator.fail("sendDocument", "server_error")
    with pytest.raises(TransientSendError, match="after 1 of 2 parts"):
        await channel.send(out("x" * 1500, attachments=(doc,)))


async def test_answer_callback(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    await channel.answer_callback("1656567327851934521", "Заказ подтверждён")
    (req,) = emulator.requests("answerCallbackQuery")
    assert req.params == {"callback_query_id": "1656567327851934521", "text": "Заказ подтверждён"}
    emulator.fail("answerCallbackQuery", "error", status=400, description="Bad Request: query is too old")
    with pytest.raises(PermanentSendError, match="too old"):
        await channel.answer_callback("1")


async def test_edit_text(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    sent = await channel.send(out("Статус: собирается"))
    await channel.edit_text(sent.external_id, "Статус: отправлен")
    await channel.edit_text(sent.external_id, "Статус: отправлен")  # "not modified" is not an error
    assert emulator.bot().sent[-1]["text"] == "Статус: отправлен"
    with pytest.raises(PermanentSendError, match="not found"):
        await channel.edit_text("385712904:1", "x")


# ---- fetch -----------------------------------------------------------------------------------------------


async def test_fetch_downloads_the_file(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    stored = emulator.add_file(b"%PDF-1.4 real bytes", "Реквизиты.pdf")
    data = await channel.fetch(Attachment(kind="document", filename="Реквизиты.pdf", ref=stored.file_id))
    assert data == b"%PDF-1.4 real bytes"
    (req,) = emulator.requests("getFile")
    assert req.params["file_id"] == stored.file_id


async def test_fetch_refuses_files_over_20_mb(emulator: TelegramEmulator, channel: TelegramChannel) -> None:
    stored = emulator.add_file(b"big", "video.mp4", size=25 * 1024 * 1024)
    with pytest.raises(AttachmentTooLarge, match="20 MB"):
        await channel.fetch(Attachment(kind="video", filename="video.mp4", ref=stored.file_id))
    assert len(emulator.requests("getFile")) == 1
    with pytest.raises(AttachmentTooLarge):  # the size from the update is checked before any request
        await channel.fetch(Attachment(kind="video", filename="v.mp4", ref="x", size=21 * 1024 * 1024))
    assert len(emulator.requests("getFile")) == 1


async def test_fetch_errors_say_whether_to_retry(
    emulator: TelegramEmulator, channel: TelegramChannel
) -> None:
    with pytest.raises(AttachmentFetchError, match="invalid file_id") as info:
        await channel.fetch(Attachment(kind="photo", filename="p.jpg", ref="unknown"))
    assert info.value.transient is False
    emulator.fail("getFile", "server_error")
    with pytest.raises(AttachmentFetchError) as info:
        await channel.fetch(Attachment(kind="photo", filename="p.jpg", ref="whatever"))
    assert info.value.transient is True
    with pytest.raises(AttachmentFetchError, match="file_id"):
        await channel.fetch(Attachment(kind="photo", filename="p.jpg"))


# ---- the emulator as a separate process (how e2e tests use it) -----------------------------------------


@pytest.fixture
def emulator_process() -> Any:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.telegram", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_control_api_out_of_process(emulator_process: str, tg_settings: Settings) -> None:
    base = emulator_process
    account = AccountConfig(
        7, ChannelKind.TELEGRAM, "b", {"api_base": base, "poll_timeout": 1}, {"token": DEFAULT_TOKEN}
    )
    channel = TelegramChannel(account, tg_settings)
    async with httpx.AsyncClient(base_url=base) as http:
        try:
            r = await http.post(
                "/_control/updates", json={"build": "text", "args": {"chat_id": 99, "text": "Привет"}}
            )
            assert r.status_code == 200
            (queued,) = r.json()["queued"]
            r = await http.post("/_control/faults", json={"method": "sendMessage", "kind": "blocked"})
            assert r.json() == {"method": "sendmessage", "kind": "blocked", "times": 1}
            bad = await http.post("/_control/faults", json={"method": "sendMessage", "kind": "explode"})
            assert bad.status_code == 400

            state = MemoryPollState()
            received: list[RawEvent] = []

            async def sink(events: list[RawEvent]) -> None:
                received.extend(events)

            await _run_until(channel, sink, state, saves=1)
            assert received[0].payload == queued
            (item,) = await channel.parse(received[0])
            assert isinstance(item, InboundMessage) and item.text == "Привет"

            with pytest.raises(PermanentSendError):
                await channel.send(OutboundMessage(7, "99", "Ответ", "k1"))
            await channel.send(OutboundMessage(7, "99", "Ответ", "k2"))
            r = await http.get("/_control/requests", params={"method": "sendMessage", "wait": 2, "min": 2})
            reqs = r.json()["requests"]
            assert [(q["params"]["text"], q["fault"]) for q in reqs] == [
                ("Ответ", "blocked"),
                ("Ответ", None),
            ]
            r = await http.get("/_control/messages", params={"chat_id": "99"})
            assert [m["text"] for m in r.json()["messages"]] == ["Ответ"]

            r = await http.post("/_control/files", json={"content_b64": "SGVsbG8=", "filename": "hello.txt"})
            file_id = r.json()["file_id"]
            assert (
                await channel.fetch(Attachment(kind="document", filename="hello.txt", ref=file_id))
                == b"Hello"
            )

            assert (await http.post("/_control/reset")).json() == {"ok": True}
            assert (await http.get("/_control/requests")).json() == {"requests": []}
        finally:
            await channel.close()
