"""The demo shop's newer features, each seeded through its own services and each skipped once it is there
(so running ``inbox demo`` again, or on a shop seeded before they existed, adds what is missing only):

* the website chat widget: a widget key whose allowed sites are this server (http://127.0.0.1:8000 and
  http://localhost:8000), used by the demo shop's own page ``/demo/site``;
* payments: the offline ``demo`` payment provider, one order paid through its link and one order whose link
  waits in the customer's conversation (``/demo/pay/<id>`` pays or declines it);
* carriers: a Boxberry account in demo mode with one parcel in transit (``/demo/site`` moves it on);
* repeat sales: segments, the default trigger rules, consent records, a broadcast already sent and one
  scheduled, loyalty levels in Russian with a discount."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.accounts import create_account
from inbox.channels.widget.config import normalize_origin
from inbox.core.events import EventBus
from inbox.core.secretbox import SecretBox
from inbox.customer_card.consent import record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import (
    CarrierAccount,
    Category,
    ChannelAccount,
    Identity,
    Manager,
    Message,
    Order,
    PaymentAccount,
    Product,
    Segment,
    utcnow,
)
from inbox.orders import service
from inbox.orders.carriers.demo import step
from inbox.orders.carriers.service import start_tracking
from inbox.orders.conversation import Effects, run_order_action
from inbox.orders.payments.demo import KIND as PAY_KIND
from inbox.orders.payments.demo import decide
from inbox.orders.payments.links import send_payment_link
from inbox.orders.payments.service import payment_link
from inbox.sales import broadcasts
from inbox.sales.config import Level, SalesConfig
from inbox.sales.config import load as load_sales
from inbox.sales.config import save as save_sales
from inbox.sales.segments import create_segment
from inbox.sales.triggers import create_rule, ensure_default_rules
from inbox.settings import Settings

WIDGET_NAME = "Сайт демо-магазина"
SITE_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")
PAY_NAME = "Демо-оплата"
CARRIER_NAME = "Демо Boxberry"
DEMO_TRACK = "DEMO0000777001"
SEGMENTS = ("Купили обувь", "Давно не покупали", "Согласны на рассылку")
SENT_TEXT = "Зимняя распродажа: −15% на ботинки и куртки до воскресенья. Ждём вас!"
DRAFT_TEXT = "Новая коллекция худи уже в магазине. Покажем в чате?"
LEVELS = (
    Level("Бронза", 0, 0),
    Level("Серебро", 10_000_00, 3),
    Level("Золото", 30_000_00, 5),
    Level("Платина", 100_000_00, 10),
)


def site_origins(settings: Settings, port: int = 8000) -> list[str]:
    """This server's addresses a browser may open the demo site at (and the public URL when set)."""
    out = list(SITE_ORIGINS)
    if port != 8000:
        out += [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    if settings.public_url:
        out.append(normalize_origin(settings.public_url))
    return out


async def _customer(session: AsyncSession, kind: str, user: str) -> int | None:
    """The customer behind a demo identity (the demo conversations' customers)."""
    demo_ids = [
        a.id for a in (await session.execute(select(ChannelAccount))).scalars() if a.settings.get("demo")
    ]
    return (
        await session.execute(
            select(Identity.customer_id).where(
                Identity.kind == kind, Identity.external_id == user, Identity.account_id.in_(demo_ids)
            )
        )
    ).scalar_one_or_none()


async def _first_message(session: AsyncSession, customer_id: int) -> Message:
    return (
        await session.execute(
            select(Message).where(Message.customer_id == customer_id).order_by(Message.id).limit(1)
        )
    ).scalar_one()


async def seed_widget(factory: SessionFactory, settings: Settings, port: int = 8000) -> bool:
    """The demo site's widget key; on a later run, the allow-list gains this run's addresses if missing."""
    async with transaction(factory) as session:
        taken = (
            await session.execute(
                select(ChannelAccount).where(
                    ChannelAccount.kind == "widget", ChannelAccount.name == WIDGET_NAME
                )
            )
        ).scalar_one_or_none()
        if taken is not None:
            origins = list(dict.fromkeys([*taken.settings.get("origins", []), *site_origins(settings, port)]))
            if origins != taken.settings.get("origins"):
                taken.settings = {**taken.settings, "origins": origins}
            return False
        box = SecretBox(settings.secret_key, settings.secret_key_old)
        row, _settings, _secrets = await create_account(
            session,
            box,
            "widget",
            WIDGET_NAME,
            {
                "origin": site_origins(settings, port),
                "public_url": settings.public_url or SITE_ORIGINS[0],
                "title": "Демо-магазин",
                "greeting": "Здравствуйте! Спросите о товаре, заказе или доставке: ответим здесь.",
                "color": "#b45309",
                "lang": "ru",
                "key": "demo-shop-widget-" + pysecrets.token_urlsafe(9),
            },
            app=settings,
        )
        row.settings = {**row.settings, "demo_site": True}
    return True


async def demo_widget_key(session: AsyncSession) -> str | None:
    row = (
        await session.execute(
            select(ChannelAccount).where(
                ChannelAccount.kind == "widget",
                ChannelAccount.name == WIDGET_NAME,
                ChannelAccount.enabled.is_(True),
            )
        )
    ).scalar_one_or_none()
    return str(row.settings.get("key")) if row is not None else None


async def _new_order(
    session: AsyncSession,
    admin_id: int,
    customer_id: int,
    lines: list[tuple[str, int]],
    delivery: tuple[str, str, int],
    statuses: list[str],
    minutes_ago: int,
) -> int:
    me = service.Actor.manager(admin_id)
    at = utcnow() - timedelta(minutes=minutes_ago)
    first = await _first_message(session, customer_id)
    order = await service.do_create_draft(
        session, customer_id=customer_id, thread_id=first.thread_id, actor=me, now=at
    )
    for sku, qty in lines:
        product = (await session.execute(select(Product).where(Product.sku == sku))).scalar_one()
        await service.do_add_line(session, order, product.id, qty, actor=me, now=at)
    method, address, cost = delivery
    await service.do_set_delivery(session, order, method=method, address=address, cost=cost, actor=me, now=at)
    await service.do_submit(session, order, actor=me, now=at)
    for i, code in enumerate(statuses):
        await service.do_change_status(
            session, order, code, actor=me, now=at + timedelta(minutes=5 * (i + 1))
        )
    return order.id


async def seed_payments(
    factory: SessionFactory,
    settings: Settings,
    admin_id: int,
    wake: Callable[[], None] | None = None,
    port: int = 8000,
) -> bool:
    """The demo provider's account; Олег's order paid through its link, Игорь's link sent and waiting."""
    async with transaction(factory) as session:
        if (
            await session.execute(select(PaymentAccount.id).where(PaymentAccount.name == PAY_NAME))
        ).scalar_one_or_none() is not None:
            return False
        session.add(
            PaymentAccount(
                kind=PAY_KIND,
                name=PAY_NAME,
                settings={"demo": True, "return_url": _home(settings, port) + "/demo/site"},
                secrets={},
            )
        )
        oleg = await _customer(session, "telegram", "100004")
        igor = await _customer(session, "vk", "200002")
        paid_id = None
        if oleg is not None:
            paid_id = await _new_order(
                session,
                admin_id,
                oleg,
                [("SN-103", 1), ("AC-302", 1)],
                ("pickup", "Самовывоз: Москва, ул. Садовая, 5", 0),
                [],
                60 * 3,
            )
        waiting = None
        if igor is not None:
            waiting = (
                await session.execute(
                    select(Order.id)
                    .where(Order.customer_id == igor, Order.payment_state != "paid")
                    .order_by(Order.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
    bus = EventBus()
    if paid_id is not None:
        link = await payment_link(factory, settings, paid_id)
        await decide(factory, bus, settings, _external_id(link.url), True, wake)
    if waiting is not None:
        link = await payment_link(factory, settings, waiting)

        async def send(session: AsyncSession, fx: Effects) -> None:
            order = await service.get_order(session, waiting)
            await send_payment_link(session, fx, order, link, manager_id=admin_id)

        await run_order_action(factory, bus, settings, send, wake)
    return True


def _home(settings: Settings, port: int) -> str:
    """Where the customer's browser reaches this server (the demo provider's pages are there)."""
    return (settings.public_url or f"http://127.0.0.1:{port}").rstrip("/")


def _external_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


async def seed_carrier(factory: SessionFactory, admin_id: int) -> bool:
    """A Boxberry account in demo mode and Дмитрий's parcel, handed over, on its way to the pickup point."""
    async with transaction(factory) as session:
        if (
            await session.execute(select(CarrierAccount.id).where(CarrierAccount.name == CARRIER_NAME))
        ).scalar_one_or_none() is not None:
            return False
        account = CarrierAccount(
            kind="boxberry",
            name=CARRIER_NAME,
            settings={"demo": True, "poll_interval": 600},
            secrets={},
            state={},
        )
        session.add(account)
        await session.flush()
        dmitry = await _customer(session, "telegram", "100020")
        if dmitry is None:
            return True
        now = utcnow()
        order_id = await _new_order(
            session,
            admin_id,
            dmitry,
            [("HM-405", 1), ("HM-401", 2)],
            ("pickup", "ПВЗ Boxberry, Москва, Профсоюзная, 40", 19000),
            ["confirmed", "assembling", "handed_to_delivery"],
            60 * 24 * 2,
        )
        me = service.Actor.manager(admin_id)
        order = await service.get_order(session, order_id)
        order = await service.do_set_payment(session, order, state="paid", amount=order.total, actor=me)
        order = await service.do_set_tracking(session, order, carrier="boxberry", track=DEMO_TRACK, actor=me)
        step(account, DEMO_TRACK, now - timedelta(hours=30))  # accepted for delivery
        step(account, DEMO_TRACK, now - timedelta(hours=6))  # on its way to the pickup point
        await start_tracking(session, order, DEMO_TRACK)  # the first check reads both steps
    return True


async def seed_sales(factory: SessionFactory, settings: Settings, admin_id: int, port: int = 8000) -> bool:
    async with transaction(factory) as session:
        if (
            await session.execute(select(Segment.id).where(Segment.name == SEGMENTS[0]))
        ).scalar_one_or_none():
            return False
        config = await load_sales(session)
        config = SalesConfig(
            **{**{f: getattr(config, f) for f in config.__dataclass_fields__}, "levels": LEVELS}
        )
        await save_sales(session, config)
        await ensure_default_rules(session, config)
        await create_rule(
            session,
            name="Поздравление с днём рождения",
            event="birthday",
            params={},
            actions=[
                {"kind": "send", "text": "{customer.name}, с днём рождения! Дарим скидку 10% на любой заказ."}
            ],
        )
        # consent: some customers said yes to news, some said no, some were never asked
        now = utcnow()
        for kind, user, channel, yes in (
            ("telegram", "100001", "telegram", True),  # Анна (already recorded by the shop seed: kept)
            ("telegram", "100010", "telegram", True),  # Екатерина
            ("vk", "200011", "vk", True),
            ("telegram", "100020", "telegram", True),  # Дмитрий
            ("vk", "200002", "vk", False),  # Игорь declined
            ("sms", "+79035550123", "sms", False),  # Мария declined
        ):
            customer_id = await _customer(session, kind, user)
            if customer_id is not None:
                await record_consent(
                    session, customer_id, channel, yes, "customer", at=now - timedelta(days=30)
                )
        shoes = (await session.execute(select(Category.id).where(Category.name == "Обувь"))).scalars().first()
        if shoes is not None:
            await create_segment(
                session,
                SEGMENTS[0],
                conditions=[{"field": "category", "op": "bought", "value": str(shoes)}],
                on_dashboard=True,
            )
        await create_segment(
            session,
            SEGMENTS[1],
            conditions=[{"field": "last_order", "op": "before_days", "value": "14"}],
            on_dashboard=True,
        )
        consenting = await create_segment(
            session, SEGMENTS[2], conditions=[{"field": "consent", "op": "given", "value": "any"}]
        )
        sent = await broadcasts.create_broadcast(
            session,
            segment_id=consenting.id,
            text=SENT_TEXT,
            buttons=[{"text": "Смотреть каталог", "url": _home(settings, port) + "/demo/site"}],
            send_at=now - timedelta(days=2),
            created_by_id=admin_id,
        )
        sent.status = "sending"  # what the broadcast runner does when it is due
        await broadcasts.plan(session, sent, config, now - timedelta(days=2))
        while (await broadcasts.send_batch(session, sent, settings))[0]:
            pass
        sent.status = "done"
        await broadcasts.create_broadcast(
            session,
            segment_id=consenting.id,
            text=DRAFT_TEXT,
            send_at=now + timedelta(days=3),
            created_by_id=admin_id,
        )
    return True


async def seed_extras(
    factory: SessionFactory,
    settings: Settings,
    admin_email: str,
    wake: Callable[[], None] | None = None,
    port: int = 8000,
) -> list[str]:
    """Add what is missing of the widget, payments, carrier and repeat-sales demo; returns what was added."""
    async with factory() as session:
        admin = (await session.execute(select(Manager).where(Manager.email == admin_email))).scalar_one()
        admin_id = admin.id
    added = []
    if await seed_widget(factory, settings, port):
        added.append("widget")
    if await seed_payments(factory, settings, admin_id, wake, port):
        added.append("payments")
    if await seed_carrier(factory, admin_id):
        added.append("carrier")
    if await seed_sales(factory, settings, admin_id, port):
        added.append("sales")
    return added
