"""The VK adapter against the local VK API emulator, driven through vkbottle's real API client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inbox.channels.vk.adapter import AttachmentFetchError, VKChannel, VKChannelError
from inbox.channels.vk.events import CallbackRef, VKPayloadError
from inbox.channels.vk.outbound import random_id
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
from tests import services
from tests.emulators import vk as emu
from tests.emulators.vk import TS_BASE, VKEmulator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "vk"
GROUP = 77
TOKEN = "vk1.a.community-token"
SECRET = "s3cr3t-ключ"
CONFIRMATION = "a1b2c3d4"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def webhook(body: dict[str, Any] | bytes, **headers: str) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return WebhookRequest(headers=headers, body=raw, query={}, url="https://shop.example/webhooks/vk/5")


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    base = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
    )
    return base.with_(**changes) if changes else base


def make_channel(api_base: str, tmp_path: Path, *, mode: str = "callback", **changes: Any) -> VKChannel:
    account = AccountConfig(
        id=5,
        kind=ChannelKind.VK,
        name="Магазин",
        settings={
            "group_id": GROUP,
            "mode": mode,
            "api_base": api_base,
            "api_version": "5.199",
            "wait": 2,
            "backoff": 0.01,
            "rate": 1000,
        },
        secrets={"token": TOKEN, "secret": SECRET, "confirmation": CONFIRMATION},
    )
    return VKChannel(account, make_settings(tmp_path, **changes))


@pytest.fixture
async def vk() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(group_id=GROUP, token=TOKEN, max_wait=2) as server:
        server.add_user(101, "Иван", "Петров", "ivan_petrov")
        server.add_user(303, "Мария", "Сидорова")
        yield server


@pytest.fixture
async def channel(vk: VKEmulator, tmp_path: Path) -> AsyncIterator[VKChannel]:
    ch = make_channel(vk.base_url, tmp_path)
    yield ch
    await ch.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def raw(name: str) -> RawEvent:
    payload = fixture(name)
    return RawEvent(key=payload["event_id"], payload=payload)


# ---- Callback API ----------------------------------------------------------------------------------------


def test_confirmation_answers_the_configured_string(channel: VKChannel) -> None:
    result = channel.handle_webhook(webhook(fixture("confirmation")))
    assert result.body == CONFIRMATION
    assert result.events == ()
    with_secret = channel.handle_webhook(webhook({**fixture("confirmation"), "secret": SECRET}))
    assert with_secret.body == CONFIRMATION


@pytest.mark.parametrize("secret", ["wrong", None, ""])
def test_wrong_or_missing_secret_is_401(channel: VKChannel, secret: str | None) -> None:
    body = fixture("message_new_text")
    if secret is not None:
        body["secret"] = secret
    with pytest.raises(WebhookRejected) as info:
        channel.handle_webhook(webhook(body))
    assert info.value.status == 401
    assert "secret" in info.value.reason


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"group_id": 77}', json.dumps({"type": "message_new"}).encode()],
)
def test_malformed_body_is_400(channel: VKChannel, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        channel.handle_webhook(webhook(body))
    assert info.value.status == 400


def test_event_for_another_group_is_400(channel: VKChannel) -> None:
    body = {**fixture("message_new_text"), "group_id": 999, "secret": SECRET}
    with pytest.raises(WebhookRejected) as info:
        channel.handle_webhook(webhook(body))
    assert info.value.status == 400
    assert "999" in info.value.reason


def test_event_becomes_one_raw_event_keyed_by_event_id_without_the_secret(channel: VKChannel) -> None:
    body = {**fixture("message_new_text"), "secret": SECRET}
    result = channel.handle_webhook(webhook(body, **{"x-retry-counter": "1"}))
    assert result.body == "ok" and result.status == 200
    (event,) = result.events
    assert event.key == body["event_id"]
    assert "secret" not in event.payload
    assert event.payload["object"]["message"]["text"].startswith("Здравствуйте")


def test_event_without_event_id_is_keyed_by_a_stable_hash(channel: VKChannel) -> None:
    body = {**fixture("message_new_text"), "secret": SECRET}
    del body["event_id"]
    first = channel.handle_webhook(webhook(body)).events[0].key
    again = channel.handle_webhook(webhook(body)).events[0].key
    other = channel.handle_webhook(webhook({**body, "object": {"message": {"text": "x"}}})).events[0].key
    assert first == again and first.startswith("sha256:")
    assert other != first


async def test_callback_retries_are_deduplicated_by_key(vk: VKEmulator, channel: VKChannel) -> None:
    """VK re-sends with X-Retry-Counter until it gets "ok"; a store keyed by RawEvent.key keeps one copy."""
    stored: dict[str, dict[str, Any]] = {}
    retry_headers: list[str | None] = []
    failures = [True]  # the first commit fails, so the first answer is a 500

    async def route(request: web.Request) -> web.Response:
        req = WebhookRequest(
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
            query=dict(request.query),
            url=str(request.url),
        )
        retry_headers.append(req.headers.get("x-retry-counter"))
        try:
            result = channel.handle_webhook(req)
        except WebhookRejected as exc:
            return web.Response(status=exc.status, text=exc.reason)
        if failures and failures.pop():
            return web.Response(status=500, text="database is down")
        for event in result.events:
            stored.setdefault(event.key, event.payload)
        return web.Response(status=result.status, text=result.body)

    app = web.Application()
    app.router.add_post("/webhooks/vk/5", route)
    runner = web.AppRunner(app)
    await runner.setup()
    port = services.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/webhooks/vk/5"
        update = emu.message_new(GROUP, emu.message(101, "Привет", cmid=40))
        attempts = await vk.post_callback(url, update, secret=SECRET, max_attempts=3)
        assert attempts == [(500, "database is down"), (200, "ok")]
        again = await vk.post_callback(url, update, secret=SECRET)
        assert again == [(200, "ok")]
        bad = await vk.post_callback(url, update, secret="nope")
        assert bad[0][0] == 401
    finally:
        await runner.cleanup()
    assert retry_headers == [None, "1", None, None]
    assert list(stored) == [update["event_id"]]


# ---- parsing ---------------------------------------------------------------------------------------------


async def test_parse_text_message_with_name_from_users_get(vk: VKEmulator, channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_text"))
    assert isinstance(item, InboundMessage)
    assert item.kind == ChannelKind.VK and item.account_id == 5
    assert item.external_user_id == "101"
    assert item.external_message_id == "101:15"
    assert item.text == "Здравствуйте! Есть ли у вас кроссовки 42 размера?"
    assert item.sent_at == datetime.fromtimestamp(1_764_000_000, UTC)
    assert item.contact.display_name == "Иван Петров"
    assert item.contact.username == "ivan_petrov"
    assert item.attachments == ()
    users_get = vk.calls("users.get")
    assert users_get[0].params["user_ids"] == "101"
    assert users_get[0].params["v"] == "5.199"


async def test_display_names_are_cached_per_adapter(vk: VKEmulator, channel: VKChannel) -> None:
    await channel.parse(raw("message_new_text"))
    await channel.parse(raw("message_new_photo"))
    (callback,) = await channel.parse(raw("message_event"))
    assert isinstance(callback, InboundCallback)
    assert callback.contact.display_name == "Иван Петров"
    assert len(vk.calls("users.get")) == 1


async def test_users_get_failure_leaves_the_name_empty_and_is_retried(
    vk: VKEmulator, channel: VKChannel
) -> None:
    vk.fail("users.get", 10)
    (item,) = await channel.parse(raw("message_new_text"))
    assert isinstance(item, InboundMessage)
    assert item.contact.display_name == ""
    (again,) = await channel.parse(raw("message_new_text"))
    assert isinstance(again, InboundMessage)
    assert again.contact.display_name == "Иван Петров"


async def test_parse_photo_takes_the_largest_size(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_photo"))
    assert isinstance(item, InboundMessage)
    assert item.text == "Вот такие, но синие"
    (photo,) = item.attachments
    assert photo.kind == "photo"
    assert photo.ref == "https://sun9-1.userapi.com/photo101_457239017_z.jpg"  # 1280x960
    assert photo.content_type == "image/jpeg"


async def test_parse_document(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_doc"))
    assert isinstance(item, InboundMessage)
    assert item.text is None
    (doc,) = item.attachments
    assert doc.kind == "document"
    assert doc.filename == "Реквизиты ООО Ромашка.pdf"
    assert doc.content_type == "application/pdf"
    assert doc.size == 48213
    assert doc.ref == "https://vk.com/doc101_671234567?hash=abc&dl=def"


async def test_parse_sticker_gives_placeholder_and_meta(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_sticker"))
    assert isinstance(item, InboundMessage)
    assert item.text == "[sticker]"
    assert item.attachments == ()
    assert item.meta["sticker"] == {
        "sticker_id": 9014,
        "product_id": 279,
        "url": "https://vk.com/sticker/1-9014-512",
    }


async def test_parse_forwarded_and_reply_become_quotes(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_forward"))
    assert isinstance(item, InboundMessage)
    assert item.text == "Посмотрите, что мне ответили"
    assert item.meta["quotes"] == [
        {"from_id": -77, "text": "Ваш заказ оформлен", "reply": True},
        {"from_id": 202, "text": "Заказ №1045 уже в пути"},
    ]
    assert item.thread_hints.reply_to_external_id == "101:14"


async def test_parse_group_chat_message(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_new_chat"))
    assert isinstance(item, InboundMessage)
    assert item.external_user_id == "2000000001"
    assert item.external_message_id == "2000000001:7"  # id is 0 in chats: the conversation id is the key
    assert item.meta["from_id"] == 303 and item.meta["chat"] is True
    assert item.contact.display_name == "Мария Сидорова"


async def test_parse_edit_matches_the_original_message_id(channel: VKChannel) -> None:
    (original,) = await channel.parse(raw("message_new_text"))
    (edit,) = await channel.parse(raw("message_edit"))
    assert isinstance(original, InboundMessage) and isinstance(edit, InboundEdit)
    assert edit.external_message_id == original.external_message_id
    assert edit.external_user_id == "101"
    assert edit.text == "Здравствуйте! Есть ли у вас кроссовки 43 размера?"
    assert edit.edited_at == datetime.fromtimestamp(1_764_000_060, UTC)


async def test_parse_keyboard_callback(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_event"))
    assert isinstance(item, InboundCallback)
    assert item.payload == "cart:add:5"
    assert item.external_user_id == "101"
    assert CallbackRef.decode(item.callback_id) == CallbackRef(
        event_id="3159dc190b1g", user_id=101, peer_id=101
    )


async def test_parse_foreign_callback_payload_as_json_text(channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_event_raw_payload"))
    assert isinstance(item, InboundCallback)
    assert json.loads(item.payload) == {"кнопка": "да", "n": 1}
    assert "кнопка" in item.payload  # not \u-escaped


@pytest.mark.parametrize("name", ["message_reply", "group_join"])
async def test_own_echo_and_unknown_types_are_ignored(vk: VKEmulator, channel: VKChannel, name: str) -> None:
    assert await channel.parse(raw(name)) == []
    assert vk.calls() == []


async def test_parse_message_without_peer_is_a_clear_error(channel: VKChannel) -> None:
    payload = fixture("message_new_text")
    del payload["object"]["message"]["peer_id"]
    del payload["object"]["message"]["from_id"]
    with pytest.raises(VKPayloadError, match="peer_id"):
        await channel.parse(RawEvent(key="k", payload=payload))


# ---- fetch -----------------------------------------------------------------------------------------------


async def test_fetch_downloads_the_attachment(vk: VKEmulator, channel: VKChannel) -> None:
    data = bytes(range(256)) * 100
    url = vk.add_file("photo.jpg", data)
    assert await channel.fetch(Attachment(kind="photo", filename="photo.jpg", ref=url)) == data


@pytest.mark.parametrize("query", ["", "?chunked=1"])
async def test_fetch_refuses_files_over_the_limit(vk: VKEmulator, tmp_path: Path, query: str) -> None:
    ch = make_channel(vk.base_url, tmp_path, max_upload_bytes=10_000)
    try:
        url = vk.add_file("big.bin", b"x" * 20_000) + query
        with pytest.raises(AttachmentFetchError, match="limit"):
            await ch.fetch(Attachment(kind="document", filename="big.bin", ref=url))
    finally:
        await ch.close()


async def test_fetch_missing_file_is_a_clear_error(vk: VKEmulator, channel: VKChannel) -> None:
    with pytest.raises(AttachmentFetchError, match="404"):
        await channel.fetch(Attachment(kind="photo", filename="gone.jpg", ref=f"{vk.base_url}/files/gone"))


# ---- send ------------------------------------------------------------------------------------------------


def outbound(text: str = "Добрый день! Размер 42 есть.", key: str = "42", **kw: Any) -> OutboundMessage:
    return OutboundMessage(account_id=5, chat_id="101", text=text, idempotency_key=key, **kw)


async def test_send_text(vk: VKEmulator, channel: VKChannel) -> None:
    sent = await channel.send(outbound())
    (msg,) = vk.sent
    assert msg.peer_id == 101 and msg.text == "Добрый день! Размер 42 есть."
    assert msg.random_id == random_id("42") == 42
    assert sent.external_id == str(msg.id)
    call = vk.calls("messages.send")[0]
    assert call.params["v"] == "5.199"


async def test_send_photo_uploads_then_attaches(vk: VKEmulator, channel: VKChannel, tmp_path: Path) -> None:
    stored = tmp_path / "data" / "files" / "ab" / "photo.jpg"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"\xff\xd8\xff\xe0 JPEG bytes")
    photo = Attachment(
        kind="photo", filename="photo.jpg", content_type="image/jpeg", path="files/ab/photo.jpg"
    )
    await channel.send(outbound("Вот фото", attachments=(photo,)))
    (msg,) = vk.sent
    assert msg.attachment.startswith("photo-77_")
    assert vk.uploads[msg.attachment].data == b"\xff\xd8\xff\xe0 JPEG bytes"
    methods = [c.method for c in vk.calls()]
    assert methods == ["photos.getMessagesUploadServer", "photos.saveMessagesPhoto", "messages.send"]
    assert vk.calls("photos.getMessagesUploadServer")[0].params["peer_id"] == "101"


async def test_send_document_uploads_with_type_doc(vk: VKEmulator, channel: VKChannel) -> None:
    doc = Attachment(
        kind="document", filename="Счёт №15.pdf", content_type="application/pdf", data=b"%PDF-1.4 ..."
    )
    await channel.send(outbound("", attachments=(doc,)))
    (msg,) = vk.sent
    assert msg.attachment.startswith("doc-77_")
    assert vk.uploads[msg.attachment].data == b"%PDF-1.4 ..."
    server_call = vk.calls("docs.getMessagesUploadServer")[0]
    assert server_call.params["type"] == "doc" and server_call.params["peer_id"] == "101"
    assert vk.calls("docs.save")[0].params["title"] == "Счёт №15.pdf"


async def test_send_keyboard_and_press_round_trip(vk: VKEmulator, channel: VKChannel) -> None:
    buttons = (
        (Button("В корзину", payload="cart:add:5"), Button("Сайт", url="https://shop.example/p/5")),
        (Button("Оператор"),),
    )
    await channel.send(outbound("Кроссовки, 42", buttons=buttons))
    keyboard = vk.sent[0].keyboard
    assert keyboard is not None and keyboard["inline"] is True
    first, second = keyboard["buttons"]
    assert first[0]["action"] == {"type": "callback", "label": "В корзину", "payload": {"cmd": "cart:add:5"}}
    assert first[1]["action"] == {"type": "open_link", "link": "https://shop.example/p/5", "label": "Сайт"}
    assert second[0]["action"] == {"type": "text", "label": "Оператор"}
    press = emu.message_event(GROUP, user_id=101, payload=first[0]["action"]["payload"])
    (callback,) = await channel.parse(RawEvent(key=press["event_id"], payload=press))
    assert isinstance(callback, InboundCallback) and callback.payload == "cart:add:5"


async def test_reply_to_an_inbound_message_uses_forward(vk: VKEmulator, channel: VKChannel) -> None:
    await channel.send(outbound("Ответ", reply_to_external_id="101:15"))
    assert vk.sent[0].forward == {"peer_id": 101, "conversation_message_ids": [15], "is_reply": True}


async def test_retry_reuses_random_id_and_vk_dedups(vk: VKEmulator, channel: VKChannel) -> None:
    """A retry after a timeout (VK did send the first time) must not send twice."""
    first = await channel.send(outbound(key="9001"))
    retry = await channel.send(outbound(key="9001"))
    other = await channel.send(outbound(key="9002"))
    assert len(vk.sent) == 2
    assert retry.external_id == first.external_id != other.external_id
    assert vk.dedup_hits == [{"peer_id": 101, "random_id": 9001, "id": int(first.external_id)}]


def test_random_id_is_stable_nonzero_and_31_bit() -> None:
    assert random_id("outbox-17") == random_id("outbox-17")
    assert random_id("outbox-17") != random_id("outbox-18")
    assert random_id("1") == 1 and random_id(str(2**31 - 1)) == 2**31 - 1 and random_id(str(2**31)) == 1
    for key in ["0", "a", "outbox-99", "Ключ", "9" * 40]:
        assert 0 < random_id(key) < 2**31
    with pytest.raises(ValueError):
        random_id("")


@pytest.mark.parametrize("code", [6, 9, 10])
async def test_transient_vk_errors(vk: VKEmulator, channel: VKChannel, code: int) -> None:
    vk.fail("messages.send", code)
    with pytest.raises(TransientSendError) as info:
        await channel.send(outbound())
    assert f"VK error {code}" in info.value.reason
    await channel.send(outbound())  # the retry goes through
    assert len(vk.sent) == 1


@pytest.mark.parametrize("code", [901, 902, 7, 15, 100])
async def test_permanent_vk_errors(vk: VKEmulator, channel: VKChannel, code: int) -> None:
    vk.fail("messages.send", code)
    with pytest.raises(PermanentSendError) as info:
        await channel.send(outbound())
    assert f"VK error {code}" in info.value.reason
    assert emu.ERRORS[code] in info.value.reason
    assert vk.sent == []


async def test_blocked_user_is_permanent(vk: VKEmulator, channel: VKChannel) -> None:
    vk.block(101)
    with pytest.raises(PermanentSendError, match="without permission"):
        await channel.send(outbound())


async def test_rate_limit_injection_is_transient(vk: VKEmulator, channel: VKChannel) -> None:
    vk.rate_limit("messages.send", 1)
    await channel.send(outbound(key="1"))
    with pytest.raises(TransientSendError, match="Too many requests"):
        await channel.send(outbound(key="2"))


async def test_emulator_enforces_vk_20_per_second_per_token(vk: VKEmulator) -> None:
    """VK's documented limit for a community token: 20 API calls per second, error 6 "Too many requests
    per second" in an HTTP 200 JSON answer past it; another token has its own 20; refusals do not count."""
    vk.token = None  # any token: two communities on one emulator
    vk.enforce_limits(per_token=20)

    async def call(session: aiohttp.ClientSession, token: str, n: int) -> tuple[int, dict[str, Any]]:
        data = {"access_token": token, "v": "5.199", "peer_id": "101", "random_id": str(n), "message": "hi"}
        async with session.post(f"{vk.base_url}/method/messages.send", data=data) as r:
            return r.status, await r.json()

    async with aiohttp.ClientSession() as session:
        first = [await call(session, "token-a", n) for n in range(1, 26)]
        other = [await call(session, "token-b", n) for n in range(1, 21)]
    assert all(status == 200 for status, _ in first + other)
    assert all("response" in body for _, body in first[:20] + other)
    for _, body in first[20:]:
        assert body["error"]["error_code"] == 6
        assert body["error"]["error_msg"] == "Too many requests per second"
    assert vk.rate_limited == 5
    assert len(vk.send_times["token-a"]) == 20
    assert vk.max_in_window(1.0) == 20


async def test_http_5xx_and_network_errors_are_transient(
    vk: VKEmulator, channel: VKChannel, tmp_path: Path
) -> None:
    vk.fail("messages.send", 0, http_status=502)
    with pytest.raises(TransientSendError, match="502"):
        await channel.send(outbound())
    nowhere = make_channel(f"http://127.0.0.1:{services.free_port()}", tmp_path)
    try:
        with pytest.raises(TransientSendError, match="network"):
            await nowhere.send(outbound())
    finally:
        await nowhere.close()


async def test_bad_outbound_messages_are_permanent(channel: VKChannel) -> None:
    with pytest.raises(PermanentSendError, match="peer id"):
        await channel.send(OutboundMessage(account_id=5, chat_id="ivan", text="x", idempotency_key="1"))
    with pytest.raises(PermanentSendError, match="4096"):
        await channel.send(outbound("я" * 4097))
    with pytest.raises(PermanentSendError, match="neither"):
        await channel.send(outbound("", attachments=(Attachment(kind="photo", filename="p.jpg"),)))


async def test_answer_callback(vk: VKEmulator, channel: VKChannel) -> None:
    (item,) = await channel.parse(raw("message_event"))
    assert isinstance(item, InboundCallback)
    await channel.answer_callback(item.callback_id, "Добавлено в корзину")
    (answer,) = vk.s.event_answers
    assert (answer["event_id"], answer["user_id"], answer["peer_id"]) == ("3159dc190b1g", "101", "101")
    assert json.loads(answer["event_data"]) == {"type": "show_snackbar", "text": "Добавлено в корзину"}
    with pytest.raises(PermanentSendError):
        await channel.answer_callback("garbage")


# ---- Bots Long Poll --------------------------------------------------------------------------------------


class MemoryPollState:
    """PollState kept in memory; ``log`` records sink and save calls in order."""

    def __init__(self, log: list[tuple[str, Any]], initial: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(initial or {})
        self.log = log

    async def load(self) -> dict[str, Any]:
        return dict(self.data)

    async def save(self, state: dict[str, Any]) -> None:
        self.data = dict(state)
        self.log.append(("save", state.get("ts")))


Sink = Callable[[list[RawEvent]], Awaitable[None]]


@contextlib.asynccontextmanager
async def polling(
    channel: VKChannel, sink: Sink, state: MemoryPollState
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(channel.run(sink, state))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def poller(vk: VKEmulator, tmp_path: Path) -> AsyncIterator[VKChannel]:
    ch = make_channel(vk.base_url, tmp_path, mode="longpoll")
    yield ch
    await ch.close()


def recording_sink(log: list[tuple[str, Any]], received: list[RawEvent]) -> Sink:
    async def sink(events: list[RawEvent]) -> None:
        received.extend(events)
        log.append(("sink", [e.key for e in events]))

    return sink


async def test_long_poll_delivers_events_in_order_and_saves_ts_after_sink(
    vk: VKEmulator, poller: VKChannel
) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    state = MemoryPollState(log)
    updates = [emu.message_new(GROUP, emu.message(101, f"Сообщение {i}", cmid=i)) for i in range(1, 4)]
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: len(vk.calls("a_check")) >= 1)
        await vk.push(*updates)
        await until(lambda: state.data.get("ts") == str(TS_BASE + 3))
    assert [e.key for e in received] == [u["event_id"] for u in updates]
    assert [e.payload for e in received] == updates
    assert log.index(("save", str(TS_BASE + 3))) > max(i for i, entry in enumerate(log) if entry[0] == "sink")
    first_check = vk.calls("a_check")[0].params
    assert first_check["key"] and first_check["ts"] == str(TS_BASE) and first_check["wait"] == "2"


async def test_long_poll_keeps_ts_when_the_sink_fails(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    attempts: list[int] = []

    async def flaky_sink(events: list[RawEvent]) -> None:
        attempts.append(len(events))
        if len(attempts) == 1:
            log.append(("sink-failed", None))
            raise RuntimeError("database is locked")
        received.extend(events)
        log.append(("sink", [e.key for e in events]))

    update = emu.message_new(GROUP, emu.message(101, "Заказ", cmid=1))
    await vk.push(update)
    state = MemoryPollState(log, {"ts": str(TS_BASE), "other": "kept"})
    async with polling(poller, flaky_sink, state):
        await until(lambda: ("save", str(TS_BASE + 1)) in log)
    assert log[0] == ("sink-failed", None)
    assert log[1] == ("sink", [update["event_id"]])
    assert log[2] == ("save", str(TS_BASE + 1))
    assert state.data == {"ts": str(TS_BASE + 1), "other": "kept"}
    assert [c.params["ts"] for c in vk.calls("a_check")[:2]] == [str(TS_BASE), str(TS_BASE)]


async def test_long_poll_survives_a_failed_ts_save(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []

    class FlakyState(MemoryPollState):
        async def save(self, state: dict[str, Any]) -> None:
            if not any(entry[0] == "save-failed" for entry in self.log):
                self.log.append(("save-failed", state.get("ts")))
                raise RuntimeError("database is locked")
            await super().save(state)

    state = FlakyState(log, {"ts": str(TS_BASE)})
    first = emu.message_new(GROUP, emu.message(101, "раз", cmid=1))
    second = emu.message_new(GROUP, emu.message(101, "два", cmid=2))
    await vk.push(first)
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: len(received) == 1)
        await vk.push(second)
        await until(lambda: state.data.get("ts") == str(TS_BASE + 2))
    assert [e.key for e in received] == [first["event_id"], second["event_id"]]
    assert ("save-failed", str(TS_BASE + 1)) in log


async def test_long_poll_resumes_from_saved_ts(vk: VKEmulator, poller: VKChannel) -> None:
    old = [emu.message_new(GROUP, emu.message(101, f"старое {i}", cmid=i)) for i in (1, 2)]
    await vk.push(*old)
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    state = MemoryPollState(log, {"ts": str(TS_BASE + 1)})  # the first one was already stored
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: state.data["ts"] == str(TS_BASE + 2))
    assert [e.key for e in received] == [old[1]["event_id"]]


async def test_long_poll_failed_1_takes_the_new_ts(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    lost = emu.message_new(GROUP, emu.message(101, "потеряно", cmid=1))
    state = MemoryPollState(log, {"ts": str(TS_BASE)})
    await vk.push(lost)
    await vk.lp_fail(1)
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: ("save", str(TS_BASE + 1)) in log)
        later = emu.message_new(GROUP, emu.message(101, "после сбоя", cmid=2))
        await vk.push(later)
        await until(lambda: len(received) == 1)
    assert log[0] == ("save", str(TS_BASE + 1))  # saved without a sink call: the lost event is skipped
    assert [e.key for e in received] == [later["event_id"]]
    assert len(vk.calls("groups.getLongPollServer")) == 1


async def test_long_poll_failed_2_gets_a_new_key_and_keeps_ts(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    state = MemoryPollState(log, {"ts": str(TS_BASE)})
    await vk.lp_fail(2)
    update = emu.message_new(GROUP, emu.message(101, "ключ истёк", cmid=1))
    await vk.push(update)
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: len(received) == 1)
    assert [e.key for e in received] == [update["event_id"]]
    assert len(vk.calls("groups.getLongPollServer")) == 2
    checks = vk.calls("a_check")
    assert checks[0].params["key"] != checks[1].params["key"]
    assert checks[1].params["ts"] == str(TS_BASE)


async def test_long_poll_failed_3_gets_a_new_key_and_ts(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    await vk.push(emu.message_new(GROUP, emu.message(101, "до сбоя", cmid=1)))
    state = MemoryPollState(log, {"ts": "5"})  # from long ago
    await vk.lp_fail(3)
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: len(vk.calls("groups.getLongPollServer")) == 2 and len(vk.calls("a_check")) >= 2)
        fresh = emu.message_new(GROUP, emu.message(101, "после", cmid=2))
        await vk.push(fresh)
        await until(lambda: len(received) == 1)
    checks = vk.calls("a_check")
    assert checks[0].params["ts"] == "5" and checks[1].params["ts"] == str(TS_BASE + 1)
    assert [e.key for e in received] == [fresh["event_id"]]


async def test_long_poll_backs_off_on_network_errors(vk: VKEmulator, poller: VKChannel) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    vk.fail("a_check", 0, times=2, http_status=502)
    vk.fail("groups.getLongPollServer", 10)
    update = emu.message_new(GROUP, emu.message(101, "доставлено", cmid=1))
    await vk.push(update)
    state = MemoryPollState(log, {"ts": str(TS_BASE)})
    async with polling(poller, recording_sink(log, received), state):
        await until(lambda: len(received) == 1)
    assert len(vk.calls("groups.getLongPollServer")) == 2
    assert len(vk.calls("a_check")) >= 3


async def test_long_poll_own_echoes_reach_the_sink_but_parse_to_nothing(
    vk: VKEmulator, poller: VKChannel
) -> None:
    log: list[tuple[str, Any]] = []
    received: list[RawEvent] = []
    state = MemoryPollState(log, {"ts": str(TS_BASE)})
    async with polling(poller, recording_sink(log, received), state):
        await poller.send(outbound())
        await until(lambda: len(received) == 1)
    assert received[0].payload["type"] == "message_reply"
    assert await poller.parse(received[0]) == []


async def test_long_poll_bad_token_is_a_clear_error(vk: VKEmulator, tmp_path: Path) -> None:
    vk.fail("groups.getLongPollServer", 5)
    ch = make_channel(vk.base_url, tmp_path, mode="longpoll")
    try:
        with pytest.raises(VKChannelError, match="authorization failed"):
            await asyncio.wait_for(ch.run(recording_sink([], []), MemoryPollState([])), 10)
    finally:
        await ch.close()


async def test_callback_mode_run_returns_at_once(vk: VKEmulator, channel: VKChannel) -> None:
    await asyncio.wait_for(channel.run(recording_sink([], []), MemoryPollState([])), 5)
    assert vk.calls() == []


async def test_start_resolves_the_group_from_the_token(vk: VKEmulator, tmp_path: Path) -> None:
    account = AccountConfig(
        id=6, kind=ChannelKind.VK, name="x", settings={"api_base": vk.base_url}, secrets={"token": TOKEN}
    )
    ch = VKChannel(account, make_settings(tmp_path))
    try:
        assert ch.group_id is None
        await ch.start()
        assert ch.group_id == GROUP
        assert vk.calls("groups.getById")
        with pytest.raises(WebhookRejected) as info:
            ch.handle_webhook(webhook({**fixture("message_new_text"), "group_id": 1}))
        assert info.value.status == 400
    finally:
        await ch.close()


def test_missing_token_or_bad_mode_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(VKChannelError, match="token"):
        VKChannel(AccountConfig(1, ChannelKind.VK, "x", {"group_id": 1}, {}), settings)
    with pytest.raises(VKChannelError, match="mode"):
        VKChannel(AccountConfig(1, ChannelKind.VK, "x", {"mode": "webhook"}, {"token": "t"}), settings)
    with pytest.raises(VKChannelError, match="group_id"):
        VKChannel(AccountConfig(1, ChannelKind.VK, "x", {"group_id": "club77"}, {"token": "t"}), settings)


# ---- the emulator out of process -------------------------------------------------------------------------


async def test_emulator_as_a_process_with_control_api(tmp_path: Path) -> None:
    port = services.free_port()
    root = Path(__file__).parent.parent.parent
    errors = (tmp_path / "emulator.err").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.vk",
        "--port",
        str(port),
        "--group-id",
        str(GROUP),
        cwd=root,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=errors,
    )
    base = f"http://127.0.0.1:{port}"
    ch = make_channel(base, tmp_path)
    poller = make_channel(base, tmp_path, mode="longpoll")
    try:
        await until(lambda: services.port_open("127.0.0.1", port) or proc.returncode is not None)
        assert proc.returncode is None, (tmp_path / "emulator.err").read_text()
        async with aiohttp.ClientSession() as http:
            users = {"users": [{"id": 101, "first_name": "Иван", "last_name": "Петров"}]}
            await http.post(f"{base}/_control/users", json=users)
            await http.post(f"{base}/_control/fail", json={"method": "messages.send", "error_code": 9})
            with pytest.raises(TransientSendError):
                await ch.send(outbound(key="7"))
            await ch.send(outbound(key="7"))
            await ch.send(outbound(key="7"))
            sent = await (await http.get(f"{base}/_control/sent")).json()
            dedup = await (await http.get(f"{base}/_control/dedup")).json()
            calls = await (await http.get(f"{base}/_control/requests?method=messages.send")).json()
            update = emu.message_new(GROUP, emu.message(101, "Через процесс", cmid=3))
            await http.post(f"{base}/_control/longpoll/updates", json={"updates": [update]})
            received: list[RawEvent] = []
            state = MemoryPollState([], {"ts": str(TS_BASE)})
            async with polling(poller, recording_sink([], received), state):
                await until(lambda: any(e.key == update["event_id"] for e in received))
        assert [s["random_id"] for s in sent] == [7]
        assert len(dedup) == 1 and len(calls) == 3
        (item,) = await ch.parse(raw("message_new_text"))
        assert isinstance(item, InboundMessage) and item.contact.display_name == "Иван Петров"
    finally:
        await ch.close()
        await poller.close()
        proc.terminate()
        await proc.wait()
        errors.close()
