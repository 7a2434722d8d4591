"""Cookies and headers over real HTTP on SQLite and PostgreSQL: Secure cookies when inbox is served over
https (INBOX_PUBLIC_URL, or X-Forwarded-Proto from a trusted proxy only), framing refused, no MIME sniffing,
a strict referrer policy on pages, the API and errors."""

from __future__ import annotations

import re

import httpx

from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.settings import Settings
from tests.server import threaded_server


async def cookies_after_sign_in(base: str, headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=20, headers=headers) as client:
        page = await client.get("/login")
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert match
        data = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": match.group(1)}
        done = await client.post("/login", data=data, headers={"cookie": f"csrftoken={match.group(1)}"})
        assert done.status_code == 302, done.text
        return page.headers.get_list("set-cookie") + done.headers.get_list("set-cookie")


def secure(cookies: list[str]) -> set[bool]:
    return {"secure" in [p.strip().lower() for p in c.split(";")] for c in cookies}


async def test_cookies_are_secure_behind_https(factory: SessionFactory, settings: Settings) -> None:
    await seed(factory)
    https = {"x-forwarded-proto": "https"}
    with threaded_server(settings, run_workers=False) as base:
        plain = await cookies_after_sign_in(base, https)  # not from a trusted proxy: ignored
        assert len(plain) >= 3 and secure(plain) == {False}
    with threaded_server(settings.with_(public_url="https://shop.example"), run_workers=False) as base:
        assert secure(await cookies_after_sign_in(base, {})) == {True}
    with threaded_server(settings.with_(trusted_proxies=("127.0.0.0/8",)), run_workers=False) as base:
        assert secure(await cookies_after_sign_in(base, https)) == {True}
        assert secure(await cookies_after_sign_in(base, {"x-forwarded-proto": "http"})) == {False}


async def test_security_headers_everywhere(factory: SessionFactory, settings: Settings) -> None:
    with threaded_server(settings, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            for path in ("/login", "/", "/api/v1/threads", "/static/app.css", "/healthz"):
                r = await client.get(path)
                assert r.headers.get("x-frame-options") == "DENY", path
                assert r.headers.get("x-content-type-options") == "nosniff", path
                assert r.headers.get("referrer-policy") == "same-origin", path
