"""Hostile input over real HTTP on SQLite and PostgreSQL: each gets a 4xx or is stored (and parked if it
cannot be processed), never a 500 or a hang: NUL characters, 10k-deep JSON, invalid UTF-8, huge integers in
paths, queries and bodies, a signed Twilio form claiming 10^12 media; unknown account ids do not fill the
configuration cache."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from inbox.channels.hub import ChannelHub
from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import ApiToken, ChannelAccount, InboundEvent, Message, Product
from inbox.settings import Settings
from tests.emulators.sms import SMSEmulator, twilio_signature
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.server import threaded_server

SECRET = "hostile-webhook-secret"
HUGE = 10**30
DEEP = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@dataclass
class World:
    base: str
    api: dict[str, str]
    telegram: int
    vk: int
    sms: int
    factory: SessionFactory
    twilio_token: str


@pytest.fixture
def sms_emulator() -> Iterator[SMSEmulator]:
    emu = SMSEmulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
async def tg_emulator() -> AsyncIterator[TelegramEmulator]:
    emu = TelegramEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def world(
    factory: SessionFactory, settings: Settings, sms_emulator: SMSEmulator, tg_emulator: TelegramEmulator
) -> AsyncIterator[World]:
    await seed(factory)
    token = new_api_token()
    with threaded_server(settings) as base:
        async with transaction(factory) as session:
            session.add(ApiToken(name="erp", token_sha256=token_digest(token)))
            tg = ChannelAccount(
                kind="telegram",
                name="tg",
                settings={
                    "mode": "webhook",
                    "api_base": tg_emulator.base_url,
                    "request_timeout": 3,
                    "public_url": "https://shop.example",
                },
                secrets={"token": DEFAULT_TOKEN, "webhook_secret": SECRET},
                state={},
            )
            vk = ChannelAccount(
                kind="vk",
                name="vk",
                settings={"group_id": 1, "api_base": "http://127.0.0.1:9"},
                secrets={"token": "vk-token", "secret": SECRET, "confirmation": "c0nf"},
                state={},
            )
            sms = ChannelAccount(
                kind="sms",
                name="sms",
                settings={"provider": "twilio", "from": "+15005550006", "api_base": sms_emulator.base_url},
                secrets={"account_sid": sms_emulator.twilio_sid, "auth_token": sms_emulator.twilio_token},
                state={},
            )
            session.add_all([tg, vk, sms])
            await session.flush()
            ids = (tg.id, vk.id, sms.id)
        yield World(base, {"Authorization": f"Bearer {token}"}, *ids, factory, sms_emulator.twilio_token)


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.post(url, content=body, headers=headers)


def telegram_update(update_id: int, text: str) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": 4242, "type": "private", "first_name": "Ann\u0000a"},
                "from": {"id": 4242, "is_bot": False, "first_name": "Ann\u0000a"},
                "text": text,
            },
        }
    ).encode()


async def test_nul_in_a_telegram_text_is_stored_and_processed(world: World) -> None:
    url = f"{world.base}/webhooks/telegram/{world.telegram}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    r = await post(url, telegram_update(7001, "hello\u0000world"), headers)
    assert r.status_code == 200, r.text
    for _ in range(200):
        async with world.factory() as session:
            event = (await session.execute(select(InboundEvent))).scalar_one()
            texts = (await session.execute(select(Message.text))).scalars().all()
        if event.processed_at is not None or event.error:
            break
        await asyncio.sleep(0.05)
    assert event.processed_at is not None and not event.error, event.error
    assert any(t and "hello" in t and "world" in t and "\x00" not in t for t in texts), texts
    again = await post(url, telegram_update(7001, "hello\u0000world"), headers)
    assert again.status_code == 200  # a redelivery is a no-op, not a loop


async def test_deep_json_and_bad_encoding_are_client_errors(world: World) -> None:
    tg = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    api = {**world.api, "Content-Type": "application/json"}
    for body in (DEEP, DEEP_OBJECT):
        r = await post(f"{world.base}/webhooks/telegram/{world.telegram}", body, tg)
        assert r.status_code == 400, r.text
        r = await post(f"{world.base}/webhooks/vk/{world.vk}", body, {"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        async with httpx.AsyncClient(timeout=20) as client:
            r = await client.put(f"{world.base}/api/v1/products", content=body, headers=api)
        assert 400 <= r.status_code < 500, r.text
    for body in (b'[{"sku": "A-\xff\xfe", "name": "x"}]', b'[{"sku": "\xc3\x28"}]'):
        async with httpx.AsyncClient(timeout=20) as client:
            r = await client.put(f"{world.base}/api/v1/products", content=body, headers=api)
        assert 400 <= r.status_code < 500, r.text
    r = await post(f"{world.base}/api/v1/threads/1/messages", b'{"text": "\xff"}', api)
    assert 400 <= r.status_code < 500, r.text


async def test_nul_in_a_product_name_via_the_api(world: World) -> None:
    api = {**world.api, "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.put(
            f"{world.base}/api/v1/products",
            content=json.dumps([{"sku": "NUL-1", "name": "Чай\u0000зелёный", "price": 100}]).encode(),
            headers=api,
        )
        assert r.status_code < 500, r.text
        r2 = await client.put(
            f"{world.base}/api/v1/products",
            content=json.dumps([{"sku": "NUL\u00002", "name": "x"}]).encode(),
            headers=api,
        )
        assert r2.status_code < 500, r2.text
    async with world.factory() as session:
        names = (await session.execute(select(Product.name))).scalars().all()
    assert all("\x00" not in n for n in names)


async def test_huge_integers_in_paths_queries_and_bodies(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.base, timeout=20) as client:
        r = await client.post(f"/webhooks/telegram/{HUGE}", content=b"{}")
        assert r.status_code == 404, r.text
        r = await client.post(f"/webhooks/sms/{HUGE}/status", content=b"{}")
        assert r.status_code == 404, r.text
        for path in (
            f"/api/v1/threads/{HUGE}/messages",
            f"/api/v1/customers/{HUGE}",
            f"/api/v1/orders/{HUGE}",
        ):
            r = await client.get(path, headers=world.api)
            assert r.status_code in (400, 404), (path, r.text)
        for query in (f"limit={HUGE}", f"cursor={HUGE}", f"status={HUGE}"):
            r = await client.get(f"/api/v1/threads?{query}", headers=world.api)
            assert 400 <= r.status_code < 500 or r.status_code == 200, (query, r.text)
        # Batch endpoints answer per row; a huge number is that row's error, never a 500.
        r = await client.put("/api/v1/products", json=[{"sku": "X", "price": HUGE}], headers=world.api)
        assert r.status_code < 500 and (r.status_code >= 400 or r.json()["errors"]), r.text
        r = await client.put("/api/v1/stock", json=[{"sku": "X", "on_hand": HUGE}], headers=world.api)
        assert r.status_code < 500 and (r.status_code >= 400 or r.json()["errors"]), r.text
        order = {"customer": {"name": "A", "phone": "+79990000000"}, "lines": [{"sku": "X", "qty": HUGE}]}
        r = await client.post("/api/v1/orders", json=order, headers=world.api)
        assert 400 <= r.status_code < 500, r.text
        r = await client.post(f"/api/v1/threads/{HUGE}/messages", json={"text": "hi"}, headers=world.api)
        assert r.status_code in (400, 404), r.text
        tg = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        r = await client.post(
            f"/webhooks/telegram/{world.telegram}", content=telegram_update(HUGE, "x"), headers=tg
        )
        assert r.status_code < 500, r.text


async def test_signed_twilio_form_with_absurd_media_count(world: World) -> None:
    url = f"{world.base}/webhooks/sms/{world.sms}"
    params = [
        ("MessageSid", "SM" + "a" * 32),
        ("From", "+15005550001"),
        ("To", "+15005550006"),
        ("Body", "hi"),
        ("NumMedia", "1000000000000"),
    ]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(world.twilio_token, url, params),
    }
    r = await post(url, urllib.parse.urlencode(params).encode(), headers)
    assert r.status_code < 500, r.text
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(world.base + "/healthz")).status_code == 200


async def test_unknown_account_ids_do_not_grow_the_config_cache(
    factory: SessionFactory, settings: Settings
) -> None:
    hub = ChannelHub(factory, settings)
    for account_id in range(1000, 1500):
        assert await hub.config(account_id) is None
    assert hub.config_cache_size() == 0


async def test_bidi_controls_are_isolated_in_the_list_and_the_thread(world: World) -> None:
    url = f"{world.base}/webhooks/telegram/{world.telegram}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    update = json.loads(telegram_update(7002, "\u202etxet desrever"))
    update["message"]["from"]["first_name"] = update["message"]["chat"]["first_name"] = "\u202eEvil"
    assert (await post(url, json.dumps(update).encode(), headers)).status_code == 200
    for _ in range(200):
        async with world.factory() as session:
            thread_id = (
                await session.execute(select(Message.thread_id).where(Message.text.contains("txet")))
            ).scalar_one_or_none()
        if thread_id:
            break
        await asyncio.sleep(0.05)
    assert thread_id
    async with httpx.AsyncClient(base_url=world.base, timeout=20) as client:
        page = await client.get("/login")
        token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": token}
        assert (await client.post("/login", data=data)).status_code == 302
        listing = (await client.get("/ui/threads")).text
        thread = (await client.get(f"/threads/{thread_id}")).text
    for html in (listing, thread):
        assert "\u202e" in html
        for piece in html.split("\u202e")[:-1]:  # every control character sits inside an isolate
            isolated = piece.rfind("<bdi>") > piece.rfind("</bdi>")
            in_title = piece.rfind("\u2068") > piece.rfind("\u2069")  # plain-text isolate in <title>
            assert isolated or in_title, piece[-300:]
