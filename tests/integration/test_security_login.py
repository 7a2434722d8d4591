"""Sign-in throttling over real HTTP on SQLite and PostgreSQL: an account locks after 5 failures, a client
address after 20, with 429 + Retry-After in the manager's language, shared by every process; the delay grows;
proxies' X-Forwarded-For counts only from INBOX_TRUSTED_PROXIES; an unknown email is checked against the dummy
hash, off the event loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from inbox.core.security import dummy_hash, hash_password, needs_rehash
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.models import Manager
from inbox.settings import Settings
from inbox.web.throttle import ACCOUNT, CLIENT, LoginThrottle
from tests.server import threaded_server

OLGA, OLGA_PASSWORD = "olga@shop.example", "olga-password"


@pytest.fixture
async def shop(factory: SessionFactory) -> SessionFactory:
    await seed(factory)
    async with transaction(factory) as session:
        hashed = hash_password(OLGA_PASSWORD)
        session.add(Manager(email=OLGA, name="Olga", password_hash=hashed, role="manager", locale="en"))
    return factory


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings, run_workers=False) as url:
        yield url


async def attempt(
    base: str, email: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=20, follow_redirects=False) as client:
        page = await client.get("/login")
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert match
        data = {"email": email, "password": password, "_csrf_token": match.group(1)}
        return await client.post("/login", data=data, headers=headers or {})


async def test_account_locks_after_five_failures_everywhere(
    base: str, settings: Settings, shop: SessionFactory
) -> None:
    for _ in range(5):
        assert (await attempt(base, OLGA, "wrong-password")).status_code == 401
    locked = await attempt(base, OLGA, OLGA_PASSWORD)  # the right password no longer helps
    assert locked.status_code == 429, locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts" in locked.text  # Olga reads English
    assert "session" not in locked.cookies
    # Another web process on the same database knows it too.
    with threaded_server(settings, run_workers=False) as other:
        assert (await attempt(other, OLGA, OLGA_PASSWORD)).status_code == 429
    # Other accounts from the same address still sign in; the admin reads Russian.
    assert (await attempt(base, DEMO_EMAIL, DEMO_PASSWORD)).status_code == 302
    for _ in range(5):
        await attempt(base, DEMO_EMAIL, "wrong-password")
    ru = await attempt(base, DEMO_EMAIL, DEMO_PASSWORD)
    assert ru.status_code == 429 and "Слишком много попыток входа" in ru.text


async def test_client_address_locks_after_twenty_failures(base: str, shop: SessionFactory) -> None:
    throttle = LoginThrottle(shop)
    for n in range(18):  # as if from other processes
        assert await throttle.failed([(CLIENT, "127.0.0.1"), (ACCOUNT, f"nobody{n}@shop.example")]) == 0
    for n in range(2):
        # X-Forwarded-For from an untrusted peer changes nothing.
        r = await attempt(base, f"else{n}@shop.example", "x", {"x-forwarded-for": f"10.0.0.{n}"})
        assert r.status_code == 401
    locked = await attempt(base, DEMO_EMAIL, DEMO_PASSWORD, {"x-forwarded-for": "10.9.9.9"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


async def test_trusted_proxy_gives_the_client_address(shop: SessionFactory, settings: Settings) -> None:
    with threaded_server(settings.with_(trusted_proxies=("127.0.0.1/32",)), run_workers=False) as base:
        one = {"x-forwarded-for": "203.0.113.7"}
        for n in range(19):
            await LoginThrottle(shop).failed([(CLIENT, "203.0.113.7"), (ACCOUNT, f"nobody{n}@shop.example")])
        assert (await attempt(base, "nobody@shop.example", "x", one)).status_code == 401
        assert (await attempt(base, DEMO_EMAIL, DEMO_PASSWORD, one)).status_code == 429
        other = {"x-forwarded-for": "203.0.113.7, 198.51.100.2"}  # the proxy appends the real peer
        assert (await attempt(base, DEMO_EMAIL, DEMO_PASSWORD, other)).status_code == 302


async def test_lock_grows_and_success_forgets(shop: SessionFactory) -> None:
    now = [1_000_000.0]
    throttle = LoginThrottle(shop, clock=lambda: now[0])
    who = [(ACCOUNT, OLGA), (CLIENT, "192.0.2.1")]
    delays = []
    for _ in range(4):
        assert await throttle.failed(who) == 0
    for _ in range(3):
        delays.append(await throttle.failed(who))
        assert await throttle.retry_after(who) == delays[-1]
        now[0] += delays[-1] + 1
        assert await throttle.retry_after(who) == 0
    assert delays == [60, 120, 240]
    await throttle.succeeded(ACCOUNT, OLGA)
    assert await throttle.failed([(ACCOUNT, OLGA)]) == 0


async def test_unknown_email_verifies_the_dummy_hash_off_the_event_loop(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    original = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        seen.append((str(hash), on_loop))
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    assert (await attempt(base, "nobody@shop.example", "guess")).status_code == 401
    assert seen == [(dummy_hash(), False)]
    seen.clear()
    assert (await attempt(base, OLGA, "guess")).status_code == 401
    assert len(seen) == 1 and seen[0][0] != dummy_hash() and not seen[0][1]


async def test_a_hash_with_older_parameters_is_replaced_at_sign_in(base: str, shop: SessionFactory) -> None:
    """argon2-cffi's default (64 MiB per check) was our hash before: such hashes still sign in, and are
    re-hashed with today's lighter parameters (19 MiB) at that sign-in; a failed sign-in changes nothing."""
    old = PasswordHasher().hash(OLGA_PASSWORD)
    assert needs_rehash(old) and not needs_rehash(hash_password(OLGA_PASSWORD))
    async with transaction(shop) as session:
        olga = (await session.execute(select(Manager).where(Manager.email == OLGA))).scalar_one()
        olga.password_hash = old
    assert (await attempt(base, OLGA, "wrong-password")).status_code == 401
    async with shop() as session:
        assert (
            await session.execute(select(Manager.password_hash).where(Manager.email == OLGA))
        ).scalar() == old
    assert (await attempt(base, OLGA, OLGA_PASSWORD)).status_code == 302
    async with shop() as session:
        new = (await session.execute(select(Manager.password_hash).where(Manager.email == OLGA))).scalar_one()
    assert new != old and "m=19456,t=2,p=1" in new and not needs_rehash(new)
    assert (await attempt(base, OLGA, OLGA_PASSWORD)).status_code == 302  # and the new hash signs in
