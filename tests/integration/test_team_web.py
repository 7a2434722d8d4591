"""The team pages over real HTTP (uvicorn) on SQLite and PostgreSQL: every admin route refuses managers,
admin actions land in the audit log, notes never reach the outbox, CSV exports, channel connection checks
against the Telegram and VK emulators."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from inbox.channels.checks import CheckFailed, check_connection
from inbox.core.security import hash_password
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import AuditLog, ChannelAccount, Manager, Message, Outbox
from inbox.settings import Settings
from inbox.web.app import create_app
from tests.emulators.telegram import TelegramEmulator
from tests.emulators.vk import VKEmulator
from tests.server import threaded_server

PLAIN_EMAIL, PLAIN_PASSWORD = "olga@shop.example", "olga-password"


@pytest.fixture
async def shop(factory: SessionFactory) -> SessionFactory:
    await seed(factory)
    async with transaction(factory) as session:
        session.add(
            Manager(
                email=PLAIN_EMAIL, name="Ольга", password_hash=hash_password(PLAIN_PASSWORD), role="manager"
            )
        )
    return factory


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings) as url:
        yield url


def signed_in(base: str, email: str | None, password: str = "") -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    if email:
        r = client.post("/login", data={"email": email, "password": password, "_csrf_token": token.group(1)})
        assert r.status_code == 302 and r.headers["location"] == "/", r.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or token.group(1)
    return client


def admin_routes(settings: Settings) -> list[tuple[str, str]]:
    app = create_app(settings, run_workers=False)
    out = []
    for route in app.routes:
        if not route.path.startswith("/admin"):
            continue
        path = re.sub(r"\{\w+:int\}", "1", route.path)
        path = re.sub(r"\{\w+:str\}", "x", path)
        for method in sorted(route.methods & {"GET", "POST"}):
            out.append((method, path))
    return out


async def test_every_admin_route_refuses_managers_and_strangers(
    base: str, settings: Settings, shop: SessionFactory
) -> None:
    routes = admin_routes(settings)
    assert {
        ("GET", "/admin/managers"),
        ("POST", "/admin/managers"),
        ("POST", "/admin/channels/1/check"),
    } <= set(routes)
    manager = signed_in(base, PLAIN_EMAIL, PLAIN_PASSWORD)
    stranger = signed_in(base, None)
    for method, path in routes:
        data = {"role": "admin", "active": "0", "email": "x@y.z", "name": "x", "password": "long-password"}
        r = manager.request(method, path, data=data if method == "POST" else None)
        assert r.status_code == 403, (method, path, r.status_code)
        assert "Admins only" in r.text or "Только для администраторов" in r.text
        r = stranger.request(method, path, data=data if method == "POST" else None)
        assert r.status_code in (302, 303) and r.headers["location"] == "/login", (method, path)
    async with shop() as session:
        assert (await session.execute(select(func.count()).select_from(AuditLog))).scalar_one() == 0
        roles = dict((await session.execute(select(Manager.email, Manager.role))).all())
    assert roles[PLAIN_EMAIL] == "manager"  # nothing changed
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    assert admin.get("/admin/managers").status_code == 200
    assert "/admin/managers" not in manager.get("/").text  # no admin link for managers


async def test_admin_actions_are_audited_and_shown(base: str, shop: SessionFactory) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    r = admin.post(
        "/admin/managers",
        data={"email": "ivan@shop.example", "name": "Иван", "password": "ivan-password", "role": "manager"},
    )
    assert r.status_code in (302, 303), r.text
    async with shop() as session:
        ivan = (
            await session.execute(select(Manager).where(Manager.email == "ivan@shop.example"))
        ).scalar_one()
    assert admin.post(f"/admin/managers/{ivan.id}/role", data={"role": "admin"}).status_code in (302, 303)
    assert admin.post(f"/admin/managers/{ivan.id}/active", data={"active": "0"}).status_code in (302, 303)
    bad = admin.post("/admin/managers", data={"email": "nope", "name": "x", "password": "long-password"})
    assert bad.status_code == 400 and "not an email" in bad.text
    page = admin.get("/admin/audit").text
    for action in ("manager.create", "manager.role", "manager.deactivate"):
        assert action in page
    signed_out = signed_in(base, None)
    r = signed_out.post(
        "/login",
        data={
            "email": "ivan@shop.example",
            "password": "ivan-password",
            "_csrf_token": signed_out.headers["x-csrftoken"],
        },
    )
    assert r.status_code == 401  # deactivated


async def test_note_over_web_never_reaches_outbox_and_mentions(base: str, shop: SessionFactory) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    async with shop() as session:
        before = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
        olga = (await session.execute(select(Manager).where(Manager.email == PLAIN_EMAIL))).scalar_one()
    r = admin.post(
        "/threads/1/note", data={"text": "@olga посмотри, пожалуйста"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 204
    async with shop() as session:
        after = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
        note = (await session.execute(select(Message).where(Message.direction == "note"))).scalar_one()
    assert after == before and note.meta["mentions"] == [olga.id]
    manager = signed_in(base, PLAIN_EMAIL, PLAIN_PASSWORD)
    bell = manager.get("/ui/notifications").text
    assert "посмотри" in bell and f"#msg-{note.id}" in bell
    page = manager.get("/threads/1").text
    assert "note-bubble" in page and "посмотри" in page


async def test_dashboard_csv_and_filters(base: str) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    page = admin.get("/dashboard")
    assert page.status_code == 200 and page.text.count("<svg") >= 5
    r = admin.get("/dashboard/csv/messages")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["day", "channel", "direction", "count"]
    assert sum(int(row[3]) for row in rows[1:]) == 10  # the demo shop's messages (in + out)
    assert admin.get("/dashboard/csv/nope").status_code == 404
    assert admin.get("/dashboard", params={"start": "2026-02-30"}).status_code == 400
    assert admin.get("/", params={"status": "bogus"}).status_code == 400
    assert admin.get("/", params={"f_nope": "1"}).status_code == 400  # unknown filter hook


async def test_channel_checks_against_emulators(shop: SessionFactory, settings: Settings) -> None:
    tg = TelegramEmulator()
    tg_base = await tg.start()
    vk = VKEmulator()
    await vk.start()
    try:
        telegram = ChannelAccount(
            id=90, kind="telegram", name="tg", settings={"api_base": tg_base}, secrets={"token": "123:abc"}
        )
        assert (await check_connection(telegram, settings)).startswith("Бот Telegram @")  # ru by default
        group = ChannelAccount(
            id=91,
            kind="vk",
            name="vk",
            settings={"api_base": vk.base_url, "group_id": 77},
            secrets={"token": "t"},
        )
        assert "Магазин" in await check_connection(group, settings)
        with pytest.raises(CheckFailed, match="нет токена бота"):
            await check_connection(
                ChannelAccount(id=92, kind="telegram", name="x", settings={}, secrets={}), settings
            )
        dead = ChannelAccount(
            id=93,
            kind="telegram",
            name="y",
            settings={"api_base": "http://127.0.0.1:9"},
            secrets={"token": "1:a"},
        )
        with pytest.raises(CheckFailed, match="провайдер недоступен"):
            await check_connection(dead, settings)
    finally:
        await tg.stop()
        await vk.stop()


async def test_manager_returns_a_handed_off_thread_to_the_bot(base: str, shop: SessionFactory) -> None:
    from inbox.models import BotState, Thread

    async with transaction(shop) as session:
        thread = (await session.execute(select(Thread).order_by(Thread.id))).scalars().first()
        assert thread is not None
        session.add(BotState(customer_id=thread.customer_id, handoff=True, data={}, step=""))
    client = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    try:
        page = client.get(f"/threads/{thread.id}")
        assert "return-to-bot" in page.text
        done = client.post(f"/threads/{thread.id}/bot", headers={"HX-Request": "true"})
        assert done.status_code == 200 and "return-to-bot" not in done.text
        again = client.post(f"/threads/{thread.id}/bot", headers={"HX-Request": "true"})
        assert "не ждёт менеджера" in again.text or "not waiting" in again.text
    finally:
        client.close()
    async with shop() as session:
        state = await session.get(BotState, thread.customer_id)
        assert state is not None and state.handoff is False
        kinds = [
            m.meta.get("kind")
            for m in (await session.execute(select(Message).where(Message.thread_id == thread.id))).scalars()
        ]
        assert "handback" in kinds
