"""Unsubscribe links across `inbox secret rotate`, on SQLite and PostgreSQL: a link in a letter sent under the
old key still opens and unsubscribes while INBOX_SECRET_KEY_OLD is set (the old key verifies, the new one
signs); once it is unset, only links signed with the new key open."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from inbox.customer_card.consent import current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import utcnow
from inbox.sales.unsubscribe import BadToken, make_token, read_token
from inbox.settings import Settings
from tests.sales_world import add_customer, base_shop
from tests.server import threaded_server

OLD, NEW = "old-secret-key-0123456789", "new-secret-key-9876543210"


def test_tokens_verify_with_any_key_of_the_ring() -> None:
    old = make_token(OLD, 42, "email")
    assert read_token((NEW, OLD), old) == (42, "email")
    assert read_token(OLD, old) == (42, "email")
    with pytest.raises(BadToken):
        read_token((NEW,), old)
    with pytest.raises(BadToken):
        read_token((NEW, OLD), "43" + old[2:])
    with pytest.raises(BadToken):
        read_token((), old)


async def test_a_link_sent_before_rotation_still_unsubscribes(
    factory: SessionFactory, settings: Settings
) -> None:
    async with transaction(factory) as s:
        shop = await base_shop(s)
        vera = await add_customer(s, shop, "Вера", ("email",), email="vera@example.ru")
        boris = await add_customer(s, shop, "Борис", ("email",), email="boris@example.ru")
        for cid in (vera, boris):
            await record_consent(s, cid, "email", True, "import", at=utcnow() - timedelta(days=1))
    sent_before = {cid: make_token(OLD, cid, "email") for cid in (vera, boris)}  # letters under the old key

    during = settings.with_(secret_key=NEW, secret_key_old=OLD)
    with threaded_server(during, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as web:
            page = await web.get(f"/u/{sent_before[vera]}")
            assert page.status_code == 200 and "Отписаться от рассылок?" in page.text
            done = await web.post(f"/u/{sent_before[vera]}", data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200 and "Вы отписаны" in done.text
            forged = make_token("another-key-000000000", boris, "email")
            assert (await web.get(f"/u/{forged}")).status_code == 404
    async with factory() as s:
        assert (await current_consent(s, vera))["email"].marketing is False
        assert (await current_consent(s, boris))["email"].marketing is True

    after = settings.with_(secret_key=NEW)  # INBOX_SECRET_KEY_OLD unset: the old key no longer verifies
    with threaded_server(after, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as web:
            assert (await web.get(f"/u/{sent_before[boris]}")).status_code == 404
            fresh = make_token(after.signing_keys[0], boris, "email")
            assert (await web.get(f"/u/{fresh}")).status_code == 200
