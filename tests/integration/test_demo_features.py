"""`inbox demo` also shows the newer features, offline: the website widget on the demo shop's own page, the
demo payment provider (a paid order, a link waiting), a Boxberry parcel in demo mode, and repeat sales
(segments, trigger rules, consent, a sent and a scheduled broadcast, loyalty levels). The demo pages move
an order and a parcel through the real service path, over HTTP against the running app (both databases)."""

from __future__ import annotations

import asyncio
import re
from contextlib import closing

import httpx
from sqlalchemy import func, select

from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.demo.extras import CARRIER_NAME, DEMO_TRACK, PAY_NAME, SEGMENTS, SITE_ORIGINS, WIDGET_NAME
from inbox.demo.shop import seed_shop
from inbox.models import (
    Broadcast,
    BroadcastRecipient,
    CarrierAccount,
    ChannelAccount,
    CustomerConsent,
    Message,
    Order,
    Payment,
    PaymentAccount,
    Segment,
    Shipment,
    TriggerRule,
)
from inbox.sales.config import load as load_sales
from inbox.settings import Settings
from tests.server import threaded_server

COUNTED = (
    ChannelAccount,
    PaymentAccount,
    Payment,
    CarrierAccount,
    Shipment,
    Segment,
    TriggerRule,
    Broadcast,
    BroadcastRecipient,
    CustomerConsent,
    Order,
    Message,
)


async def counts(factory: SessionFactory) -> dict[str, int]:
    async with factory() as session:
        return {
            t.__name__: (await session.execute(select(func.count()).select_from(t))).scalar_one()
            for t in COUNTED
        }


async def _seeded(factory: SessionFactory, settings: Settings) -> None:
    assert await seed(factory) is not None
    assert await seed_shop(factory, settings, DEMO_EMAIL) is True


async def test_the_demo_seeds_widget_payments_carrier_and_repeat_sales_once(
    factory: SessionFactory, settings: Settings
) -> None:
    await _seeded(factory, settings)
    first = await counts(factory)
    assert await seed_shop(factory, settings, DEMO_EMAIL) is False
    assert await counts(factory) == first
    # `make run PORT=8001`: the next run lets the demo site at that port use the widget too
    assert await seed_shop(factory, settings, DEMO_EMAIL, port=8001) is False
    assert await counts(factory) == first

    async with factory() as session:
        widget = (
            await session.execute(select(ChannelAccount).where(ChannelAccount.name == WIDGET_NAME))
        ).scalar_one()
        assert widget.kind == "widget" and set(SITE_ORIGINS) <= set(widget.settings["origins"])
        assert {"http://127.0.0.1:8001", "http://localhost:8001"} <= set(widget.settings["origins"])
        assert not widget.settings.get("demo")  # the real widget adapter serves it, not the demo one
        pay = (
            await session.execute(select(PaymentAccount).where(PaymentAccount.name == PAY_NAME))
        ).scalar_one()
        assert pay.kind == "demo"
        payments = (
            (await session.execute(select(Payment).where(Payment.account_id == pay.id))).scalars().all()
        )
        assert sorted(p.status for p in payments) == ["pending", "succeeded"]
        for p in payments:
            assert p.confirmation_url and p.confirmation_url.endswith(f"/demo/pay/{p.external_id}")
            order = await session.get(Order, p.order_id)
            assert order is not None
            assert order.payment_state == ("paid" if p.status == "succeeded" else "unpaid")
        waiting = next(p for p in payments if p.status == "pending")
        link_msg = (
            (
                await session.execute(
                    select(Message).where(Message.order_id == waiting.order_id, Message.direction == "out")
                )
            )
            .scalars()
            .all()
        )
        assert any(waiting.confirmation_url in str(m.meta) for m in link_msg), "the link waits in the chat"

        carrier = (
            await session.execute(select(CarrierAccount).where(CarrierAccount.name == CARRIER_NAME))
        ).scalar_one()
        assert carrier.kind == "boxberry" and carrier.settings["demo"] is True
        parcel = (await session.execute(select(Shipment).where(Shipment.track == DEMO_TRACK))).scalar_one()
        assert parcel.active and parcel.account_id == carrier.id
        assert len(carrier.settings["demo_parcels"][DEMO_TRACK]) == 2  # handed over, in transit

        names = set((await session.execute(select(Segment.name))).scalars())
        assert set(SEGMENTS) <= names
        rules = (await session.execute(select(TriggerRule))).scalars().all()
        assert {"order_unpaid", "birthday"} <= {r.event for r in rules if r.enabled}
        casts = (await session.execute(select(Broadcast).order_by(Broadcast.id))).scalars().all()
        assert [b.status for b in casts] == ["done", "scheduled"]
        recipients = (
            (
                await session.execute(
                    select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == casts[0].id)
                )
            )
            .scalars()
            .all()
        )
        assert len([r for r in recipients if r.state != "skipped"]) >= 3
        consent = {
            (c.customer_id, c.channel, c.marketing)
            for c in (await session.execute(select(CustomerConsent))).scalars()
        }
        assert any(m for _c, _ch, m in consent) and any(not m for _c, _ch, m in consent)
        levels = (await load_sales(session)).levels
        assert [lv.name for lv in levels] == ["Бронза", "Серебро", "Золото", "Платина"]
        assert any(lv.discount > 0 for lv in levels)


def _signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    client.get("/login")
    token = client.cookies["csrftoken"]
    done = client.post("/login", data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": token})
    assert done.status_code in (302, 303), done.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or token
    return client


async def _wait(factory: SessionFactory, check: object, what: str) -> None:
    for _ in range(400):
        async with factory() as session:
            if await check(session):  # type: ignore[operator]
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _said_to(session: object, order_id: int, words: str) -> bool:
    order = await session.get(Order, order_id)  # type: ignore[attr-defined]
    rows = await session.execute(  # type: ignore[attr-defined]
        select(Message.text).where(
            Message.thread_id == order.thread_id,
            Message.direction == "out",
            Message.delivery.in_(("sent", "delivered", "read")),
        )
    )
    return any(words in (t or "") for t in rows.scalars())


def _visit_widget(base: str, key: str) -> None:
    """A visitor of the demo site: both local addresses, same-origin GETs included; no other site."""
    with httpx.Client(base_url=base, timeout=30) as visitor:
        for origin in SITE_ORIGINS:
            started = visitor.post(f"/widget/session?key={key}", json={}, headers={"Origin": origin})
            assert started.status_code == 200, started.text
        token = started.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        same = {**auth, "Sec-Fetch-Site": "same-origin", "Host": "localhost:8000"}
        assert visitor.get(f"/widget/history?key={key}", headers=same).status_code == 200
        assert visitor.get(f"/widget/history?key={key}", headers=auth).status_code == 403
        evil = visitor.post(f"/widget/session?key={key}", json={}, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        sent = visitor.post(
            f"/widget/send?key={key}",
            json={"id": "demo-site-1", "text": "Есть худи размера M?"},
            headers={**auth, "Origin": SITE_ORIGINS[1]},
        )
        assert sent.status_code == 202, sent.text


async def test_demo_site_widget_payment_page_and_parcel_button_over_http(
    factory: SessionFactory, settings: Settings
) -> None:
    await _seeded(factory, settings)
    async with factory() as session:
        key = (
            (await session.execute(select(ChannelAccount).where(ChannelAccount.name == WIDGET_NAME)))
            .scalar_one()
            .settings["key"]
        )
        waiting = (await session.execute(select(Payment).where(Payment.status == "pending"))).scalar_one()
        parcel = (await session.execute(select(Shipment).where(Shipment.track == DEMO_TRACK))).scalar_one()
    with threaded_server(settings, run_workers=True) as base, closing(_signed_in(base)) as client:
        site = client.get("/demo/site")
        assert site.status_code == 200
        assert f'<script src="/widget.js" data-key="{key}" async>' in site.text
        assert "script-src 'self'" in site.headers["content-security-policy"]  # the loader is our own file
        assert (
            f"/demo/pay/{waiting.external_id}" in site.text
            and f"/demo/parcels/{parcel.id}/advance" in site.text
        )
        assert 'href="/demo/site"' in client.get("/demo/customer").text
        assert client.get("/widget.js").status_code == 200

        _visit_widget(base, key)

        async def in_inbox(session: object) -> bool:
            found = await session.execute(  # type: ignore[attr-defined]
                select(Message.id).where(Message.channel == "widget", Message.text == "Есть худи размера M?")
            )
            return found.first() is not None

        await _wait(factory, in_inbox, "the widget message in the inbox")

        # The payment page: Russian buttons; "Оплатить" pays through the provider path, the customer is told.
        page = client.get(f"/demo/pay/{waiting.external_id}")
        assert page.status_code == 200 and "Оплатить" in page.text and "Отказаться" in page.text
        paid = client.post(f"/demo/pay/{waiting.external_id}", data={"action": "pay"})
        assert paid.status_code == 200 and 'id="pay-result"' in paid.text

        async def order_paid(session: object) -> bool:
            order = await session.get(Order, waiting.order_id)  # type: ignore[attr-defined]
            return bool(order.payment_state == "paid" and order.status == "confirmed") and await _said_to(
                session, waiting.order_id, "подтверждён"
            )

        await _wait(factory, order_paid, "the order paid, confirmed and the customer told")
        again = client.post(f"/demo/pay/{waiting.external_id}", data={"action": "pay"})  # a redelivery
        assert again.status_code == 200
        async with factory() as session:
            order = await session.get(Order, waiting.order_id)
            assert order is not None and order.paid_amount == order.total  # counted once
        assert client.get("/demo/pay/demo-unknown").status_code == 404

        # The parcel button: arrived at the pickup point (customer told), then delivered.
        for _ in range(2):
            moved = client.post(f"/demo/parcels/{parcel.id}/advance")
            assert moved.status_code == 303

        async def delivered(session: object) -> bool:
            order = await session.get(Order, parcel.order_id)  # type: ignore[attr-defined]
            return bool(order.status == "delivered") and await _said_to(
                session, parcel.order_id, "пункт выдачи"
            )

        await _wait(factory, delivered, "the parcel delivered and the customer told at the pickup point")
        assert (
            client.post(f"/demo/parcels/{parcel.id}/advance").status_code == 303
        )  # no further step: no harm
    async with factory() as session:
        shown = re.findall(r"Выдано", str((await session.get(Shipment, parcel.id)).last_status))  # type: ignore[union-attr]
        assert shown
