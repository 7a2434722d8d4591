"""/api/v1 customer merge, split, suggestions and preferred channel over real HTTP (uvicorn), on SQLite and
PostgreSQL. The app is built by create_app and the controller mounted the way app.py will mount it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from litestar import Litestar, Router
from sqlalchemy import select

from inbox.core.ingest import apply_message
from inbox.core.security import hash_password, new_api_token, token_digest
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken, ChannelAccount, Identity, Manager, Message, Thread
from inbox.settings import Settings
from inbox.web.auth import require_manager, require_token
from inbox.web.views.customers import CustomersController
from inbox.web.views.customers_api import CustomersApi
from tests.server import wait_http
from tests.services import free_port

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PHONE = "+79161234567"


def mount(app: Litestar) -> Litestar:
    """What app.py does for this issue (skipped once app.py mounts them itself): the API controller under
    /api/v1 behind tokens, the card behind the manager login."""
    if app.get_handler_index_by_name("api_customer_merge") is None:
        app.register(Router(path="/api/v1", route_handlers=[CustomersApi], before_request=require_token))
    if app.get_handler_index_by_name("customer_card") is None:
        app.register(
            Router(
                path="/",
                route_handlers=[CustomersController],
                before_request=require_manager,
                include_in_schema=False,
            )
        )
    return app


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    from inbox.web.app import create_app

    port = free_port()
    app = mount(create_app(settings, run_workers=False))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def inbound(session_factory: SessionFactory, m: InboundMessage) -> int:
    async with transaction(session_factory) as session:
        await apply_message(session, m, [])
        msg = (
            await session.execute(
                Message.__table__.select().where(Message.external_id == m.external_message_id)
            )
        ).first()
        assert msg is not None
        return int(msg.customer_id)


def message(kind: ChannelKind, acc: int, user: str, mid: str, text: str, **contact: str) -> InboundMessage:
    return InboundMessage(
        kind=kind,
        account_id=acc,
        external_user_id=user,
        external_message_id=mid,
        sent_at=T0 + timedelta(minutes=len(mid)),
        text=text,
        contact=ContactHints(**contact),
    )


@pytest.fixture
async def people(factory: SessionFactory) -> dict[str, int]:
    return await seed_people(factory)


async def seed_people(factory: SessionFactory) -> dict[str, int]:
    """Анна on Telegram, the same phone on SMS ("Anna S"), Борис on Telegram; their ids and threads."""
    async with transaction(factory) as session:
        tg = ChannelAccount(kind="telegram", name="tg", settings={}, secrets={}, state={})
        sms = ChannelAccount(kind="sms", name="sms", settings={}, secrets={}, state={})
        session.add_all([tg, sms])
        await session.flush()
        tg_id, sms_id = tg.id, sms.id
    anna = await inbound(
        factory,
        message(
            ChannelKind.TELEGRAM, tg_id, "42", "t1", "Привет", display_name="Анна", phone_unverified=PHONE
        ),
    )
    other = await inbound(
        factory, message(ChannelKind.SMS, sms_id, PHONE, "s1", "это я", display_name="Anna S", phone=PHONE)
    )
    boris = await inbound(
        factory, message(ChannelKind.TELEGRAM, tg_id, "77", "t22", "hello", display_name="Борис")
    )
    async with factory() as session:
        threads = {
            row.customer_id: row.id for row in (await session.execute(Thread.__table__.select())).all()
        }
    return {
        "anna": anna,
        "other": other,
        "boris": boris,
        "other_thread": threads[other],
        "anna_thread": threads[anna],
    }


@pytest.fixture
async def token(factory: SessionFactory) -> str:
    raw = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(raw)))
    return raw


async def test_merge_split_suggestions_preferred_over_http(
    people: dict[str, int], token: str, settings: Settings
) -> None:
    anna, other, boris = people["anna"], people["other"], people["boris"]
    with served(settings) as base:
        async with httpx.AsyncClient(
            base_url=base + "/api/v1", timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            sug = (await api.get(f"/customers/{anna}/suggestions")).json()
            assert [(s["customer_id"], s["reason"]) for s in sug["items"]] == [(other, "same_phone")]
            assert sug["next"] is None
            assert (await api.get(f"/customers/{boris}/suggestions")).json()["items"] == []
            assert (await api.get("/customers/999999/suggestions")).status_code == 404

            refused = await api.post(f"/customers/{anna}/merge", json={"other_id": other})
            assert refused.status_code == 409, refused.text
            assert "name" in refused.json()["detail"]
            assert [c["field"] for c in refused.json()["extra"]["conflicts"]] == ["name"]
            bad = await api.post(
                f"/customers/{anna}/merge", json={"other_id": other, "choices": {"name": "both"}}
            )
            assert bad.status_code == 400 and "survivor" in bad.json()["detail"]
            itself = await api.post(f"/customers/{anna}/merge", json={"other_id": anna})
            assert itself.status_code == 400 and "itself" in itself.json()["detail"]
            assert (await api.post(f"/customers/{anna}/merge", json={"other_id": 999999})).status_code == 404
            assert (await api.post(f"/customers/{anna}/merge", json={"oops": 1})).status_code == 400

            merged = await api.post(
                f"/customers/{anna}/merge", json={"other_id": other, "choices": {"name": "survivor"}}
            )
            assert merged.status_code == 200, merged.text
            body = merged.json()
            assert body["customer"]["id"] == anna and body["customer"]["name"] == "Анна"
            assert sorted(i["channel"] for i in body["customer"]["identities"]) == ["sms", "telegram"]
            assert body["customer"]["phone"] == PHONE and body["customer"]["phone_verified"] is True
            assert body["conflicts"] == [
                {"field": "name", "survivor": "Анна", "other": "Anna S", "chosen": "survivor"}
            ]
            assert body["moved"]["identities"] == 1 and body["moved"]["messages"] == 1

            again = await api.post(f"/customers/{anna}/merge", json={"other_id": other, "choices": {}})
            assert again.status_code == 409 and "already merged" in again.json()["detail"]
            into_tomb = await api.post(f"/customers/{other}/merge", json={"other_id": boris})
            assert into_tomb.status_code == 409 and "merged into" in into_tomb.json()["detail"]

            # the tombstone's id keeps answering (the core customer endpoint follows merged_into_id)
            old = await api.get(f"/customers/{other}")
            assert old.status_code == 200
            assert old.json()["merged_into_id"] == anna and len(old.json()["identities"]) == 2

            pref = await api.put(f"/customers/{anna}/preferred-channel", json={"channel": "sms"})
            assert pref.status_code == 200 and pref.json()["preferred_channel"] == "sms"
            wrong = await api.put(f"/customers/{boris}/preferred-channel", json={"channel": "sms"})
            assert wrong.status_code == 400 and "no sms channel" in wrong.json()["detail"]
            unknown = await api.put(f"/customers/{boris}/preferred-channel", json={"channel": "pigeon"})
            assert unknown.status_code == 400 and "unknown channel" in unknown.json()["detail"]
            cleared = await api.put(f"/customers/{boris}/preferred-channel", json={"channel": None})
            assert cleared.status_code == 200 and cleared.json()["preferred_channel"] is None

            sms_ident = next(i for i in body["customer"]["identities"] if i["channel"] == "sms")
            split = await api.post(f"/customers/{anna}/split", json={"identity_id": sms_ident["id"]})
            assert split.status_code == 201, split.text
            new = split.json()
            assert new["id"] not in (anna, other) and [i["channel"] for i in new["identities"]] == ["sms"]
            assert new["phone"] == PHONE and new["thread_id"] not in (None, people["anna_thread"])
            last = await api.post(f"/customers/{new['id']}/split", json={"identity_id": sms_ident["id"]})
            assert last.status_code == 409 and "only identity" in last.json()["detail"]
            foreign = await api.post(f"/customers/{boris}/split", json={"identity_id": sms_ident["id"]})
            assert foreign.status_code == 404
            after = (await api.get(f"/customers/{anna}")).json()
            assert after["preferred_channel"] is None  # sms left with the identity

            schema = (await httpx.AsyncClient(base_url=base).get("/api/schema/openapi.json")).json()
            assert "/api/v1/customers/{customer_id}/merge" in schema["paths"]


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    page = await client.get("/login")
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    token = match.group(1)
    done = await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})
    assert done.status_code in (302, 303), done.text
    return client.cookies["csrftoken"]  # a new token comes with the new session


async def test_customer_card_merge_page_split_and_preferred_channel(
    people: dict[str, int], factory: SessionFactory, settings: Settings
) -> None:
    anna, other = people["anna"], people["other"]
    async with transaction(factory) as session:
        session.add(
            Manager(
                email="m@shop.test", name="Мария", password_hash=hash_password("pw-123456789"), locale="en"
            )
        )
    with served(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as web:
            csrf = await sign_in(web, "m@shop.test", "pw-123456789")
            card = await web.get(f"/customers/{anna}")
            assert card.status_code == 200
            assert 'class="badge ch-telegram"' in card.text and "Possible duplicates" in card.text
            assert f'href="/customers/{anna}/merge?other={other}"' in card.text
            assert "not verified" in card.text  # Anna typed her phone by hand

            page = await web.get(f"/customers/{anna}/merge", params={"other": other})
            assert page.status_code == 200
            assert 'name="choice_name" value="other"' in page.text and "Anna S" in page.text

            htmx = {"HX-Request": "true", "x-csrftoken": csrf}
            unsigned = await web.post(f"/customers/{anna}/merge", data={"other_id": str(other)})
            assert unsigned.status_code == 403  # no CSRF token, no merge
            conflict = await web.post(f"/customers/{anna}/merge", data={"other_id": str(other)}, headers=htmx)
            assert conflict.status_code == 409 and "conflicting field" in conflict.text
            merged = await web.post(
                f"/customers/{anna}/merge",
                data={"other_id": str(other), "choice_name": "other"},
                headers=htmx,
            )
            assert merged.status_code == 200 and merged.headers["HX-Redirect"] == f"/customers/{anna}"
            follow = await web.get(f"/customers/{other}")
            assert follow.status_code == 303 and follow.headers["location"] == f"/customers/{anna}"
            card = await web.get(f"/customers/{anna}")
            assert (
                "Anna S" in card.text
                and 'class="badge ch-sms"' in card.text
                and "was merged into" in card.text
            )
            assert "✓ verified" in card.text

            pref = await web.post(
                f"/customers/{anna}/preferred-channel", data={"channel": "sms"}, headers=htmx
            )
            assert pref.status_code == 200 and '<option value="sms" selected' in pref.text
            wrong = await web.post(
                f"/customers/{anna}/preferred-channel", data={"channel": "vk"}, headers=htmx
            )
            assert wrong.status_code == 400 and "no vk channel" in wrong.text

            async with factory() as session:
                sms_id = (
                    await session.execute(
                        select(Identity.id).where(Identity.customer_id == anna, Identity.kind == "sms")
                    )
                ).scalar_one()
            split = await web.post(
                f"/customers/{anna}/split", data={"identity_id": str(sms_id)}, headers=htmx
            )
            assert split.status_code == 200, split.text
            new_id = int(split.headers["HX-Redirect"].rsplit("/", 1)[1])
            assert new_id not in (anna, other)
            new_card = await web.get(f"/customers/{new_id}")
            assert 'class="badge ch-sms"' in new_card.text and "ch-telegram" not in new_card.text
            plain = await web.post(
                f"/customers/{new_id}/split", data={"identity_id": str(sms_id), "_csrf_token": csrf}
            )
            assert plain.status_code == 409 and "only identity" in plain.text
