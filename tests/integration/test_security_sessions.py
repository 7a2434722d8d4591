"""Sessions and CSRF as an attacker tries them, over real HTTP on SQLite and PostgreSQL: a CSRF pair taken
from the anonymous sign-in page does not pass with a manager's session, the token changes at sign-in, the
server issues a new session id at sign-in and sign-out and ignores ids it never issued, anonymous page views
store nothing, and an oversized session cookie is not a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from inbox.core.security import hash_password
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import KeyValue, Manager
from inbox.settings import Settings
from tests.server import threaded_server

OLGA, OLGA_PASSWORD = "olga@shop.example", "olga-password"


@pytest.fixture
async def shop(factory: SessionFactory) -> SessionFactory:
    await seed(factory)
    async with transaction(factory) as session:
        session.add(
            Manager(email=OLGA, name="Ольга", password_hash=hash_password(OLGA_PASSWORD), role="manager")
        )
    return factory


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings, run_workers=False) as url:
        yield url


def form_token(page: httpx.Response) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def browser(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=10, follow_redirects=False)


async def sign_in(base: str, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> httpx.AsyncClient:
    client = browser(base)
    token = form_token(await client.get("/login"))
    done = await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})
    assert done.status_code == 302 and done.headers["location"] == "/", done.text
    return client


def credentials(token: str) -> dict[str, str]:
    return {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": token}


async def olga_id(factory: SessionFactory) -> int:
    async with factory() as session:
        return (await session.execute(select(Manager.id).where(Manager.email == OLGA))).scalar_one()


async def olga_active(factory: SessionFactory) -> bool:
    async with factory() as session:
        return bool((await session.execute(select(Manager.active).where(Manager.email == OLGA))).scalar_one())


async def test_anonymous_csrf_pair_does_not_pass_with_a_managers_session(
    base: str, shop: SessionFactory
) -> None:
    victim = await sign_in(base)
    attacker = browser(base)
    await attacker.get("/login")
    pair = attacker.cookies["csrftoken"]
    target = f"/admin/managers/{await olga_id(shop)}/active"

    forged = await browser(base).post(
        target,
        data={"active": "0", "_csrf_token": pair},
        headers={"x-csrftoken": pair, "cookie": f"session={victim.cookies['session']}; csrftoken={pair}"},
    )
    assert forged.status_code == 403, forged.text
    assert await olga_active(shop)

    # The manager's own page carries the session's token, and that one passes.
    own = form_token(await victim.get("/admin/managers"))
    assert own != pair
    done = await victim.post(target, data={"active": "0", "_csrf_token": own})
    assert done.status_code in (302, 303), done.text
    assert not await olga_active(shop)


async def test_csrf_token_changes_at_sign_in_and_is_per_session(base: str) -> None:
    client = browser(base)
    before = form_token(await client.get("/login"))
    done = await client.post("/login", data=credentials(before))
    assert done.status_code == 302
    after = client.cookies["csrftoken"]
    assert after != before and form_token(await client.get("/admin/managers")) == after
    # The pre-sign-in token no longer works for this session; another manager's token does not either.
    other = await sign_in(base, OLGA, OLGA_PASSWORD)
    for stale in (before, other.cookies["csrftoken"]):
        r = await client.post("/notifications/read", headers={"x-csrftoken": stale, "HX-Request": "true"})
        assert r.status_code == 403, stale
    assert (await client.post("/notifications/read", headers={"x-csrftoken": after})).status_code < 400


async def test_session_id_is_issued_by_the_server_and_renewed(base: str) -> None:
    invented = "a" * 64
    client = browser(base)
    client.cookies.set("session", invented)
    assert (await client.get("/")).headers.get("location") == "/login"  # an id we never issued opens nothing
    token = form_token(await client.get("/login"))
    done = await client.post("/login", data=credentials(token))
    first = done.cookies.get("session")
    assert first and first != invented
    client.cookies.set("session", first)
    assert (await client.get("/")).status_code == 200

    # Signing in again (e.g. a shared computer) gives a new id and kills the old one.
    again = await client.post(
        "/login",
        data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": client.cookies["csrftoken"]},
    )
    second = again.cookies.get("session")
    assert second and second != first
    stale = await browser(base).get("/", headers={"cookie": f"session={first}"})
    assert stale.status_code == 302 and stale.headers["location"] == "/login"

    client.cookies.set("session", second)
    out = await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})
    assert out.status_code in (302, 303)
    gone = await browser(base).get("/", headers={"cookie": f"session={second}"})
    assert gone.status_code == 302 and gone.headers["location"] == "/login"


async def test_anonymous_views_store_no_session_and_long_cookies_are_harmless(
    base: str, shop: SessionFactory
) -> None:
    for _ in range(3):
        assert (await browser(base).get("/login")).status_code == 200
        assert (await browser(base).get("/")).status_code == 302
    async with shop() as session:
        rows = await session.scalar(
            select(func.count()).select_from(KeyValue).where(KeyValue.namespace == "sessions")
        )
    assert rows == 0
    for value in ("x" * 201, "f" * 300, "a" * 64 + "b" * 200):
        r = await browser(base).get("/", headers={"cookie": f"session={value}"})
        assert r.status_code == 302, (value, r.status_code)
        r = await browser(base).post(
            "/login", headers={"cookie": f"session={value}"}, data={"email": "a", "password": "b"}
        )
        assert r.status_code == 403, (value, r.status_code)
