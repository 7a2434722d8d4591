"""The consent record and lifetime value, through the service and PUT/GET /api/v1/customers/{id}, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from inbox.core.security import new_api_token, token_digest
from inbox.customer_card.consent import ConsentError, consent_history, current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import ApiToken
from inbox.settings import Settings
from tests.integration.test_customer_value import order_in
from tests.integration.test_merge_api import served
from tests.orders_factories import make_world

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def test_consent_history_kept_latest_per_channel_is_the_state(factory: SessionFactory) -> None:
    world = await make_world(factory)
    async with transaction(factory) as s:
        await record_consent(s, world.customer_id, "telegram", True, "customer", at=T0)
        await record_consent(s, world.customer_id, "sms", True, "import", at=T0)
        await record_consent(s, world.customer_id, "telegram", False, "manager", at=T0 + timedelta(hours=1))
        with pytest.raises(ConsentError):
            await record_consent(s, world.customer_id, "pigeon", True, "manager")
        with pytest.raises(ConsentError):
            await record_consent(s, world.customer_id, "sms", True, " ")
    async with factory() as s:
        state = await current_consent(s, world.customer_id)
        assert {ch: (c.marketing, c.source) for ch, c in state.items()} == {
            "telegram": (False, "manager"),
            "sms": (True, "import"),
        }
        assert len(await consent_history(s, world.customer_id)) == 3


async def test_consent_and_value_over_the_api(factory: SessionFactory, settings: Settings) -> None:
    world = await make_world(factory)
    total = await order_in(factory, world, "A-1", ())
    raw = new_api_token()
    async with transaction(factory) as s:
        s.add(ApiToken(name="erp", token_sha256=token_digest(raw)))
    with served(settings) as base:
        async with httpx.AsyncClient(
            base_url=base + "/api/v1", headers={"Authorization": f"Bearer {raw}"}, timeout=20
        ) as api:
            url = f"/customers/{world.customer_id}/consent"
            yes = await api.put(url, json={"channel": "telegram", "marketing": True, "source": "customer"})
            assert yes.status_code == 200, yes.text
            assert yes.json()["consent"]["telegram"]["marketing"] is True
            no = await api.put(url, json={"channel": "telegram", "marketing": False, "source": "customer"})
            assert no.json()["consent"]["telegram"] == {
                "marketing": False,
                "source": "customer",
                "recorded_at": no.json()["consent"]["telegram"]["recorded_at"],
                "recorded_by": None,
            }
            bad = await api.put(url, json={"channel": "pigeon", "marketing": True})
            assert bad.status_code == 422 and "pigeon" in bad.json()["detail"]
            typo = await api.put(url, json={"channel": "sms", "marketing": "yes"})
            assert typo.status_code == 400
            missing = await api.put("/customers/999999/consent", json={"channel": "sms", "marketing": True})
            assert missing.status_code == 404
            card = (await api.get(f"/customers/{world.customer_id}")).json()
            assert card["consent"]["telegram"]["marketing"] is False and "sms" not in card["consent"]
            assert card["lifetime_value"] == total and card["orders_count"] == 1
            assert card["average_check"] == total and card["last_order_at"]
    async with factory() as s:
        assert len(await consent_history(s, world.customer_id)) == 2
