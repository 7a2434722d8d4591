"""The demo channel's "play the customer" page over real HTTP: only signed-in managers, only demo accounts,
clear Russian 4xx for bad input, and what the customer types reaches the inbox and the bot answers it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import ChannelAccount, Message
from inbox.settings import Settings
from tests.integration.test_team_web import signed_in
from tests.server import threaded_server


def without_csrf(base: str, cookies: httpx.Cookies, body: dict[str, object]) -> httpx.Response:
    """The manager's session cookie, but no CSRF header: what a foreign page could make a browser send."""
    return httpx.post(base + "/demo/customer/say", json=body, cookies=cookies, timeout=10)


@pytest.fixture
async def shop(factory: SessionFactory) -> SessionFactory:
    await seed(factory)
    async with transaction(factory) as session:
        session.add(ChannelAccount(kind="telegram", name="real", settings={}, secrets={}, state={}))
    return factory


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings) as url:
        yield url


async def test_play_the_customer_over_http(base: str, shop: SessionFactory) -> None:
    anonymous = signed_in(base, None)
    assert anonymous.get("/demo/customer").headers["location"] == "/login"

    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    async with shop() as session:
        accounts = {a.name: a.id for a in (await session.execute(select(ChannelAccount))).scalars()}
    tg, real = accounts["Демо Telegram"], accounts["real"]

    home = admin.get("/").text
    assert 'id="play-customer"' in home and "Открыть как покупатель" in home
    page = admin.get("/demo/customer")
    assert page.status_code == 200 and "Демо: вы — покупатель" in page.text
    assert "Анна Смирнова" in page.text  # the demo's customers can be played
    assert "real" not in re.findall(
        r"<option[^>]*>([^<]*)</option>", page.text
    )  # a real account is not offered

    started = admin.get(f"/demo/customer?new=1&account={tg}&name=Вера", follow_redirects=False)
    assert started.status_code in (302, 303)
    user = re.search(r"user=(\d+)", started.headers["location"])
    assert user is not None
    bad_sms = admin.get(f"/demo/customer?new=1&account={accounts['Демо SMS']}&name=Вера&phone=123")
    assert bad_sms.status_code == 400 and "не номер телефона" in bad_sms.text

    def say(**body: object) -> httpx.Response:
        return admin.post(
            "/demo/customer/say", json={"account": tg, "user": user.group(1), "name": "Вера", **body}
        )

    empty = say(text="   ")
    assert empty.status_code == 400 and "Сначала напишите сообщение" in empty.json()["detail"]
    wrong = admin.post("/demo/customer/say", json={"account": real, "user": "1", "text": "привет"})
    assert wrong.status_code == 400 and "Демо-канала" in wrong.json()["detail"]
    no_csrf = await asyncio.to_thread(
        without_csrf, base, admin.cookies, {"account": tg, "user": "1", "text": "x"}
    )
    assert no_csrf.status_code == 403

    assert say(text="Здравствуйте").status_code == 202
    deadline = time.monotonic() + 20
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        seen = admin.get(f"/demo/customer/messages?account={tg}&user={user.group(1)}").json()
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.2)
    assert [(m["dir"], m["author"]) for m in seen] == [("in", "customer"), ("out", "bot")]
    assert seen[0]["text"] == "Здравствуйте" and seen[1]["buttons"]  # the greeting has buttons to press
    async with shop() as session:
        stored = (await session.execute(select(Message).where(Message.text == "Здравствуйте"))).scalar_one()
        assert stored.account_id == tg and stored.channel == "telegram"
    # another account's customer with the same id sees nothing of it
    assert (
        admin.get(f"/demo/customer/messages?account={accounts['Демо VK']}&user={user.group(1)}").json() == []
    )
    assert admin.get(f"/demo/customer/messages?account={real}&user=1").status_code == 404
    assert admin.get("/demo/images/..%2F..%2Fsecret.svg").status_code == 404
    assert admin.get("/demo/images/nothing.svg").status_code == 404
