"""The demo shop around the demo conversations: a catalog with stock and pictures, orders in several
statuses (one overdue, one shipped with a tracking number, one paid by hand), canned replies, labels, a
merge suggestion, an email thread linked to an order, a bot conversation handed off to a manager, and a
customer card with consent, custom fields and a note. Everything is made through the product's own
services (catalog import, order service, bot engine, team services), so the data is what real use makes.
Safe to run twice: the catalog import is an upsert and the rest is skipped once the demo mailbox exists."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bots.engine import BotEngine
from inbox.channels.email.links import set_order_link
from inbox.core.events import Event
from inbox.core.ingest import apply_message
from inbox.core.types import ChannelKind, ContactHints, InboundMessage, ThreadHints
from inbox.customer_card.consent import record_consent
from inbox.customer_card.fields import define_field
from inbox.customer_card.profile import update_profile
from inbox.db import SessionFactory, transaction
from inbox.demo.extras import seed_extras
from inbox.demo.images import draw_all
from inbox.models import ChannelAccount, Customer, Identity, Manager, Message, Product, Thread, utcnow
from inbox.orders import service
from inbox.orders.importers import import_catalog
from inbox.orders.statuses import ensure_defaults
from inbox.settings import Settings
from inbox.team import canned, labels, notes

MAILBOX = "shop@demo.example"
IMAGES_URL = "/demo/images/"

# sku, name, price (rubles), stock, category
CATALOG: list[tuple[str, str, int, int, str]] = [
    ("SN-101", "Кроссовки Nord Run белые", 6990, 14, "Обувь"),
    ("SN-102", "Кроссовки Nord Run чёрные", 6990, 9, "Обувь"),
    ("SN-103", "Кеды Classic низкие", 3490, 22, "Обувь"),
    ("SN-104", "Кеды Classic высокие", 3990, 0, "Обувь"),
    ("SN-105", "Ботинки Taiga зимние", 9990, 6, "Обувь"),
    ("SN-106", "Челси кожаные", 8490, 4, "Обувь"),
    ("SN-107", "Слипоны летние", 2490, 17, "Обувь"),
    ("SN-108", "Сандалии треккинговые", 3290, 3, "Обувь"),
    ("SN-109", "Тапочки домашние войлочные", 1290, 30, "Обувь"),
    ("CL-201", "Куртка Nord утеплённая", 7990, 3, "Одежда"),
    ("CL-202", "Ветровка лёгкая", 4490, 11, "Одежда"),
    ("CL-203", "Худи оверсайз серое", 3990, 19, "Одежда"),
    ("CL-204", "Свитшот базовый синий", 2990, 25, "Одежда"),
    ("CL-205", "Футболка базовая белая", 1290, 60, "Одежда"),
    ("CL-206", "Футболка базовая чёрная", 1290, 48, "Одежда"),
    ("CL-207", "Джинсы прямые", 4990, 13, "Одежда"),
    ("CL-208", "Брюки карго", 4290, 8, "Одежда"),
    ("CL-209", "Платье в горошек", 3590, 5, "Одежда"),
    ("CL-210", "Свитер вязаный", 5490, 7, "Одежда"),
    ("CL-211", "Пуховик длинный", 12990, 2, "Одежда"),
    ("AC-301", "Рюкзак городской 20 л", 3990, 15, "Аксессуары"),
    ("AC-302", "Шапка вязаная", 990, 40, "Аксессуары"),
    ("AC-303", "Шарф шерстяной", 1490, 21, "Аксессуары"),
    ("AC-304", "Перчатки сенсорные", 890, 33, "Аксессуары"),
    ("AC-305", "Ремень кожаный", 1990, 12, "Аксессуары"),
    ("AC-306", "Сумка-шопер холщовая", 790, 50, "Аксессуары"),
    ("AC-307", "Носки хлопковые, 3 пары", 590, 80, "Аксессуары"),
    ("AC-308", "Зонт складной", 1690, 9, "Аксессуары"),
    ("AC-309", "Кошелёк на молнии", 1390, 0, "Аксессуары"),
    ("HM-401", "Кружка керамическая 350 мл", 690, 27, "Дом"),
    ("HM-402", "Плед флисовый", 2190, 10, "Дом"),
    ("HM-403", "Подушка декоративная", 1190, 14, "Дом"),
    ("HM-404", "Свеча ароматическая", 890, 36, "Дом"),
    ("HM-405", "Термос 0,5 л", 1890, 8, "Дом"),
    ("HM-406", "Набор полотенец", 2490, 6, "Дом"),
    ("HM-407", "Коврик для йоги", 1990, 1, "Дом"),
]


def catalog_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "name", "price", "stock", "category", "description", "active"])
    for sku, name, price, qty, category in CATALOG:
        writer.writerow([sku, name, f"{price}.00", qty, category, f"{name}. Демо-товар магазина.", "1"])
    return out.getvalue()


async def seed_catalog(factory: SessionFactory, data_dir: Path) -> int:
    """Import the demo catalog (an upsert by SKU) and draw each product's picture; returns the count."""
    folder = data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    path.write_text(catalog_csv(), encoding="utf-8")
    summary = await import_catalog(factory, path, fmt="csv")
    draw_all([(sku, name, cat) for sku, name, _p, _q, cat in CATALOG], folder / "images")
    async with transaction(factory) as session:
        rows = await session.execute(select(Product).where(Product.sku.in_([c[0] for c in CATALOG])))
        for product in rows.scalars():
            product.images = [f"{IMAGES_URL}{product.sku}.svg"]
    return summary.processed


@dataclass
class Ctx:
    session: AsyncSession
    admin: Manager
    now: datetime
    accounts: dict[str, ChannelAccount]


async def _say(
    c: Ctx,
    kind: str,
    user: str,
    name: str,
    key: str,
    text: str,
    minutes_ago: int,
    *,
    phone: str | None = None,
    email: str | None = None,
    thread_hints: ThreadHints | None = None,
) -> Message:
    """One inbound message through the ingest path; returns the stored row."""
    account = c.accounts[kind]
    await apply_message(
        c.session,
        InboundMessage(
            kind=ChannelKind(kind),
            account_id=account.id,
            external_user_id=user,
            external_message_id=key,
            sent_at=c.now - timedelta(minutes=minutes_ago),
            text=text,
            contact=ContactHints(
                display_name=name,
                phone_unverified=phone,
                email=email,
                locale="ru",
            ),
            thread_hints=thread_hints or ThreadHints(),
        ),
        [],
    )
    await c.session.flush()
    return (
        await c.session.execute(
            select(Message).where(Message.account_id == account.id, Message.external_id == key)
        )
    ).scalar_one()


async def _product(session: AsyncSession, sku: str) -> Product:
    return (await session.execute(select(Product).where(Product.sku == sku))).scalar_one()


async def _order(
    c: Ctx,
    msg: Message,
    lines: list[tuple[str, int]],
    statuses: list[str],
    minutes_ago: int,
    *,
    delivery: tuple[str, str, int] | None = None,
    paid: bool = False,
    track: tuple[str, str] | None = None,
) -> int:
    """An order placed ``minutes_ago`` in the customer's thread, moved along ``statuses``; returns its id."""
    me = service.Actor.manager(c.admin.id)
    at = c.now - timedelta(minutes=minutes_ago)
    order = await service.do_create_draft(
        c.session, customer_id=msg.customer_id, thread_id=msg.thread_id, actor=me, now=at
    )
    for sku, qty in lines:
        await service.do_add_line(
            c.session, order, (await _product(c.session, sku)).id, qty, actor=me, now=at
        )
    if delivery is not None:
        method, address, cost = delivery
        await service.do_set_delivery(
            c.session, order, method=method, address=address, cost=cost, actor=me, now=at
        )
    await service.do_submit(c.session, order, actor=me, now=at)
    for i, code in enumerate(statuses):
        await service.do_change_status(
            c.session, order, code, actor=me, now=at + timedelta(minutes=5 * (i + 1))
        )
    if paid:
        order = await service.get_order(c.session, order.id)
        await service.do_set_payment(c.session, order, state="paid", amount=order.total, actor=me, now=at)
    if track is not None:
        await service.do_set_tracking(c.session, order, carrier=track[0], track=track[1], actor=me, now=at)
    return order.id


async def _thread_of(session: AsyncSession, customer_id: int) -> Thread:
    return (await session.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()


async def seed_shop(
    factory: SessionFactory,
    settings: Settings,
    admin_email: str,
    wake: Callable[[], None] | None = None,
    port: int = 8000,
) -> bool:
    """Everything around the conversations; False when it is already there. The newer features (widget,
    payments, carrier, repeat sales) are added when missing either way (``inbox.demo.extras``); ``port``:
    the one ``inbox serve`` will listen on, which the demo site's widget key must allow."""
    added = await _seed_shop(factory, settings, admin_email)
    await seed_extras(factory, settings, admin_email, wake, port)
    return added


async def _seed_shop(factory: SessionFactory, settings: Settings, admin_email: str) -> bool:
    async with transaction(factory) as session:
        await ensure_defaults(session)  # statuses, carriers, the main warehouse (the migrations add them too)
    await seed_catalog(factory, settings.data_dir)
    async with transaction(factory) as session:
        taken = await session.execute(
            select(ChannelAccount.id).where(
                ChannelAccount.kind == "email", ChannelAccount.name == "Демо почта"
            )
        )
        if taken.scalar_one_or_none() is not None:
            return False
        admin = (await session.execute(select(Manager).where(Manager.email == admin_email))).scalar_one()
        accounts: dict[str, ChannelAccount] = {}
        for row in (await session.execute(select(ChannelAccount))).scalars():
            if row.settings.get("demo"):
                accounts.setdefault(row.kind, row)
        mailbox = ChannelAccount(
            kind="email",
            name="Демо почта",
            settings={"demo": True, "mode": "demo", "address": MAILBOX, "display_name": "Демо-магазин"},
            secrets={},
            state={},
        )
        session.add(mailbox)
        await session.flush()
        accounts["email"] = mailbox
        c = Ctx(session=session, admin=admin, now=utcnow(), accounts=accounts)
        handoff = await _conversations(c)
    # The bot answers the hand-off customer through its own engine: a greeting, then the hand-off.
    engine = BotEngine(factory, settings)
    for message_id in handoff:
        await engine.on_event(Event("message.new", message_id=message_id, data={"direction": "in"}))
    return True


async def _conversations(c: Ctx) -> list[int]:
    s = c.session
    # Canned replies and labels the team shares.
    for shortcut, title, body in (
        ("privet", "Приветствие", "Здравствуйте, {customer.name}! Меня зовут {manager.name}, чем помочь?"),
        (
            "otpravka",
            "Трек-номер",
            "Ваш заказ #{order.number} передан в доставку. Трек-номер: {order.tracking_number}",
        ),
        (
            "samovyvoz",
            "Самовывоз",
            "Забрать заказ можно ежедневно с 10 до 21 по адресу: Москва, ул. Садовая, 5.",
        ),
        ("spasibo", "Спасибо", "Спасибо за заказ! Будем рады видеть вас снова."),
    ):
        await canned.create(s, shortcut=shortcut, title=title, body=body, owner_id=None)
    vip = await labels.create_label(s, "VIP", "#b45309")
    wholesale = await labels.create_label(s, "Опт", "#0369a1")
    complaint = await labels.create_label(s, "Претензия", "#b91c1c")

    # Orders of the four first customers (their conversations come from ``seed``).
    # Only customers of the demo channels: the database may hold a shop's own customers already.
    demo_accounts = [a.id for a in c.accounts.values()]
    demo_customers = select(Identity.customer_id).where(Identity.account_id.in_(demo_accounts))
    first: dict[str, Message] = {}
    ours = select(Customer).where(Customer.id.in_(demo_customers)).order_by(Customer.id).limit(4)
    for one in (await s.execute(ours)).scalars():
        message = (
            await s.execute(
                select(Message).where(Message.customer_id == one.id).order_by(Message.id).limit(1)
            )
        ).scalar_one_or_none()
        if message is not None:
            first.setdefault(one.name, message)
    anna, igor, maria = first.get("Анна Смирнова"), first.get("Игорь Петров"), first.get("Мария Кузнецова")
    if anna is not None:
        await _order(
            c,
            anna,
            [("SN-101", 1), ("AC-307", 2)],
            ["confirmed", "assembling", "handed_to_delivery", "delivered"],
            60 * 24 * 40,
            delivery=("cdek", "Москва, ул. Лесная, 7, кв. 12", 35000),
            paid=True,
        )
        await _order(
            c,
            anna,
            [("SN-102", 1)],
            ["confirmed", "assembling", "handed_to_delivery"],
            60 * 26,
            delivery=("cdek", "Москва, ул. Лесная, 7, кв. 12", 35000),
            paid=True,
            track=("cdek", "1098765432"),
        )
        cust = await s.get(Customer, anna.customer_id)
        assert cust is not None
        await define_field(
            s, key="shoe_size", name="Размер обуви", kind="select", options=["37", "38", "39", "40"]
        )
        await define_field(s, key="source", name="Откуда узнали о нас", kind="text")
        await update_profile(
            s,
            cust,
            {
                "name": cust.name or "",
                "phone": cust.phone or "",
                "email": "anna.smirnova@example.ru",
                "addresses": "Москва, ул. Лесная, 7, кв. 12",
                "birthday": "1991-03-14",
                "field_shoe_size": "38",
                "field_source": "Реклама ВКонтакте",
            },
        )
        await record_consent(s, cust.id, "telegram", True, "customer", at=c.now - timedelta(days=40))
        await record_consent(s, cust.id, "sms", False, "manager", recorded_by=c.admin.id)
        await labels.label_customer(s, cust.id, vip.id)
        await notes.add_note(
            s, anna.thread_id, c.admin.id, "Постоянный клиент: носит 38-й размер, любит Nord."
        )
    if igor is not None:  # placed three hours ago and still "new": past the status's one-hour limit
        await _order(c, igor, [("CL-201", 1)], [], 180, delivery=("courier", "Москва, Тверская, 12", 50000))
        await labels.label_thread(s, igor.thread_id, wholesale.id)
    if maria is not None:
        await _order(
            c,
            maria,
            [("CL-209", 1), ("AC-303", 1)],
            ["confirmed", "assembling", "ready_for_pickup"],
            60 * 30,
            delivery=("pickup", "ПВЗ Boxberry, Москва, Профсоюзная, 40", 25000),
            paid=True,
        )

    # An email thread linked to an order.
    subject = "Возврат: ботинки не подошли"
    letter1 = await _say(
        c,
        "email",
        "svetlana.orlova@example.ru",
        "Светлана Орлова",
        "<demo-1@mail.example.ru>",
        "Здравствуйте! Ботинки Taiga из заказа не подошли по размеру. Как оформить обмен на 39?",
        60 * 5,
        email="svetlana.orlova@example.ru",
        thread_hints=ThreadHints(subject=subject, message_id="<demo-1@mail.example.ru>"),
    )
    order_id = await _order(
        c,
        letter1,
        [("SN-105", 1)],
        ["confirmed", "assembling", "handed_to_delivery", "delivered"],
        60 * 24 * 6,
        delivery=("post", "Казань, ул. Баумана, 3", 30000),
        paid=True,
    )
    letter2 = await _say(
        c,
        "email",
        "svetlana.orlova@example.ru",
        "Светлана Орлова",
        "<demo-2@mail.example.ru>",
        "И ещё: можно ли вернуть деньги на карту, если 39-го не будет?",
        60 * 4,
        email="svetlana.orlova@example.ru",
        thread_hints=ThreadHints(
            subject="Re: " + subject,
            message_id="<demo-2@mail.example.ru>",
            in_reply_to="<demo-1@mail.example.ru>",
            references=("<demo-1@mail.example.ru>",),
        ),
    )
    for letter in (letter1, letter2):
        await set_order_link(s, letter.id, order_id, c.admin.id)
    await labels.label_thread(s, letter1.thread_id, complaint.id)

    # Two customers who look like one person (same name, same phone typed by hand): a merge suggestion.
    kv_tg = await _say(
        c,
        "telegram",
        "100010",
        "Екатерина Волкова",
        "demo-kv-1",
        "Добрый день! Подскажите, свитер вязаный есть в размере S?",
        60 * 9,
        phone="+79261112233",
    )
    kv_vk = await _say(
        c,
        "vk",
        "200011",
        "Екатерина Волкова",
        "demo-kv-2",
        "Я вам писала в Телеграме про свитер, продублирую сюда.",
        60 * 8,
        phone="+79261112233",
    )
    # each of the two has an order of their own: merging them brings both together
    await _order(
        c,
        kv_tg,
        [("HM-402", 1)],
        ["confirmed", "assembling", "handed_to_delivery", "delivered"],
        60 * 24 * 20,
        delivery=("courier", "Москва, Ленинский пр-т, 30", 40000),
        paid=True,
    )
    await _order(
        c,
        kv_vk,
        [("CL-210", 1)],
        ["confirmed"],
        60 * 7,
        delivery=("courier", "Москва, Ленинский пр-т, 30", 40000),
    )

    # A bot conversation: the customer greets, then asks for a person (the bot answers after the commit).
    hello = await _say(c, "telegram", "100020", "Дмитрий Козлов", "demo-dk-1", "Здравствуйте", 20)
    manager = await _say(c, "telegram", "100020", "Дмитрий Козлов", "demo-dk-2", "Позовите менеджера", 18)
    return [hello.id, manager.id]
