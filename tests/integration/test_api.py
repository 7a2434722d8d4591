"""REST API /api/v1 over real HTTP (uvicorn), on SQLite and PostgreSQL, against the demo shop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.demo import seed
from inbox.models import ApiToken
from inbox.settings import Settings
from tests.server import threaded_server


@pytest.fixture
async def api(factory: SessionFactory, settings: Settings) -> tuple[SessionFactory, Settings, str]:
    await seed(factory)
    token = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(token)))
    return factory, settings, token


@pytest.fixture
def server(api: tuple[SessionFactory, Settings, str]) -> Iterator[tuple[str, dict[str, str]]]:
    _, settings, token = api
    with threaded_server(settings) as base:
        yield base, {"Authorization": f"Bearer {token}"}


async def test_threads_messages_customer_and_post(server: tuple[str, dict[str, str]]) -> None:
    base, auth = server
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
        page = (await client.get("/api/v1/threads", params={"limit": 2})).json()
        assert len(page["items"]) == 2 and page["next"]
        rest = (await client.get("/api/v1/threads", params={"cursor": page["next"]})).json()
        ids = [t["id"] for t in page["items"]] + [t["id"] for t in rest["items"]]
        assert len(ids) == len(set(ids)) == 4  # keyset pages neither repeat nor skip
        anna = next(t for t in page["items"] + rest["items"] if t["customer_name"] == "Анна Смирнова")
        assert anna["channels"] == ["telegram"]

        msgs = (await client.get(f"/api/v1/threads/{anna['id']}/messages")).json()
        assert [m["direction"] for m in msgs["items"]] == ["in", "out", "in"]
        assert msgs["items"][0]["channel"] == "telegram"

        customer = (await client.get(f"/api/v1/customers/{anna['customer_id']}")).json()
        assert customer["name"] == "Анна Смирнова" and customer["identities"][0]["channel"] == "telegram"

        posted = await client.post(
            f"/api/v1/threads/{anna['id']}/messages", json={"text": "Трек: 1234567890"}
        )
        assert posted.status_code == 201, posted.text
        body = posted.json()
        assert body["direction"] == "out" and body["delivery"]["state"] == "queued"
        for _ in range(100):  # the dispatcher sends it through the (demo) channel
            msgs = (await client.get(f"/api/v1/threads/{anna['id']}/messages")).json()
            last = msgs["items"][-1]
            if last["delivery"]["state"] == "sent":
                break
            await asyncio.sleep(0.1)
        assert last["id"] == body["id"] and last["delivery"]["state"] == "sent"


async def test_bad_requests_get_a_reason(server: tuple[str, dict[str, str]]) -> None:
    base, auth = server
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        no_token = await client.get("/api/v1/threads")
        assert no_token.status_code == 401 and "bearer" in no_token.text.lower()
        wrong = await client.get("/api/v1/threads", headers={"Authorization": "Bearer inb_wrong"})
        assert wrong.status_code == 401 and "invalid" in wrong.text
        client.headers.update(auth)
        assert (await client.get("/api/v1/threads", params={"cursor": "@@@"})).status_code == 400
        assert (await client.get("/api/v1/threads", params={"limit": 0})).status_code == 400
        assert (await client.get("/api/v1/threads/999999/messages")).status_code == 404
        assert (await client.get("/api/v1/customers/999999")).status_code == 404
        empty = await client.post("/api/v1/threads/1/messages", json={"text": "   "})
        assert empty.status_code == 400 and "empty" in empty.text
        malformed = await client.post(
            "/api/v1/threads/1/messages", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        no_channel = await client.post("/api/v1/threads/1/messages", json={"text": "x", "channel": "email"})
        assert no_channel.status_code == 409 and "email" in no_channel.text
        schema = await client.get("/api/schema/openapi.json")
        assert schema.status_code == 200 and "/api/v1/threads" in schema.json()["paths"]
