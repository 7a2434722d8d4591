"""`inbox demo` seeds a shop that shows every feature without any token, and running it twice doubles
nothing (SQLite and PostgreSQL, through the seed functions the CLI calls)."""

from __future__ import annotations

from sqlalchemy import func, select

from inbox.core.merge import suggest_duplicates
from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, seed
from inbox.demo.shop import CATALOG, seed_shop
from inbox.models import (
    BotState,
    CannedReply,
    Customer,
    CustomerConsent,
    CustomField,
    Label,
    Message,
    Order,
    Product,
    Stock,
    Thread,
)
from inbox.orders.service import find_overdue
from inbox.settings import Settings

COUNTED = (Product, Stock, Customer, Thread, Message, Order, CannedReply, Label, CustomField, CustomerConsent)


async def counts(factory: SessionFactory) -> dict[str, int]:
    async with factory() as session:
        return {
            t.__name__: (await session.execute(select(func.count()).select_from(t))).scalar_one()
            for t in COUNTED
        }


async def test_the_demo_shop_shows_every_feature_and_seeding_twice_doubles_nothing(
    factory: SessionFactory, settings: Settings
) -> None:
    assert await seed(factory) is not None
    assert await seed_shop(factory, settings, DEMO_EMAIL) is True
    first = await counts(factory)
    assert await seed(factory) is None
    assert await seed_shop(factory, settings, DEMO_EMAIL) is False
    assert await counts(factory) == first

    assert first["Product"] == len(CATALOG) >= 30
    assert first["CannedReply"] >= 3 and first["Label"] >= 3 and first["CustomField"] >= 1
    for sku, *_rest in CATALOG:  # every product has a picture drawn locally
        svg = settings.data_dir / "demo" / "images" / f"{sku}.svg"
        assert svg.read_text(encoding="utf-8").startswith("<svg")
    async with factory() as session:
        products = (await session.execute(select(Product))).scalars().all()
        assert all(p.images == [f"/demo/images/{p.sku}.svg"] for p in products)
        statuses = set((await session.execute(select(Order.status))).scalars())
        assert {"new", "confirmed", "handed_to_delivery", "ready_for_pickup", "delivered"} <= statuses
        tracked = (
            (await session.execute(select(Order).where(Order.tracking_number.is_not(None)))).scalars().all()
        )
        assert tracked and tracked[0].tracking_url
        assert await find_overdue(session), "one order is past its status's time limit"
        # an email thread whose letters are linked to an order
        letters = (await session.execute(select(Message).where(Message.channel == "email"))).scalars().all()
        assert len(letters) >= 2 and all(m.order_id is not None for m in letters)
        # an SMS customer, and a bot conversation handed off to a manager
        assert (await session.execute(select(Message.id).where(Message.channel == "sms"))).first()
        handoff = (await session.execute(select(BotState).where(BotState.handoff.is_(True)))).scalars().all()
        assert len(handoff) == 1
        bot_said = (
            (
                await session.execute(
                    select(Message.text).where(
                        Message.customer_id == handoff[0].customer_id, Message.author == "bot"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert len(bot_said) == 2  # the greeting, then the hand-off
        # two customers that look like one person
        kate = (
            (await session.execute(select(Customer.id).where(Customer.name == "Екатерина Волкова")))
            .scalars()
            .all()
        )
        assert len(kate) == 2
        assert [s.customer_id for s in await suggest_duplicates(session, kate[0])] == [kate[1]]
        # the customer card: consent, custom fields, a note
        anna = (await session.execute(select(Customer).where(Customer.name == "Анна Смирнова"))).scalar_one()
        assert anna.fields.get("shoe_size") == "38" and anna.birthday is not None
        assert (await session.execute(select(Message.id).where(Message.direction == "note"))).first()
