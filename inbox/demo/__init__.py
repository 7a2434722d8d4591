"""Demo data for a newcomer: a Russian shop with a few customers and conversations on demo channels."""

from __future__ import annotations

import functools
from datetime import timedelta

from sqlalchemy import select

from inbox.core.ingest import apply_message
from inbox.core.security import hash_password
from inbox.core.types import ChannelKind, ContactHints, InboundMessage
from inbox.db import SessionFactory, transaction
from inbox.models import Author, ChannelAccount, Delivery, Direction, Manager, Message, Thread, utcnow

DEMO_EMAIL = "admin@shop.example"
DEMO_PASSWORD = "inbox-demo"

# (channel, external id, name, phone, [(minutes ago, direction, text)])
CONVERSATIONS: list[tuple[str, str, str, str | None, list[tuple[int, str, str]]]] = [
    (
        "telegram",
        "100001",
        "Анна Смирнова",
        "+79161234567",
        [
            (180, "in", "Здравствуйте! Заказывала у вас кроссовки, номер заказа 1042. Когда отправите?"),
            (175, "out", "Анна, добрый день! Заказ собран, передаём в СДЭК сегодня до 18:00."),
            (12, "in", "Спасибо! А трек-номер пришлёте сюда?"),
        ],
    ),
    (
        "vk",
        "200002",
        "Игорь Петров",
        None,
        [
            (320, "in", "Есть ли куртка Nord в размере L?"),
            (318, "out", "Игорь, да: на складе 3 штуки, цена 7 990 ₽. Оформить?"),
            (45, "in", "Да, оформляйте, доставка курьером по Москве."),
        ],
    ),
    (
        "sms",
        "+79035550123",
        "Мария Кузнецова",
        "+79035550123",
        [
            (60 * 26, "in", "Здравствуйте, где мой заказ №1038?"),
            (60 * 25, "out", "Мария, заказ ждёт вас в пункте выдачи Boxberry до 30.11."),
            (30, "in", "Можно продлить хранение на пару дней?"),
        ],
    ),
    (
        "telegram",
        "100004",
        "Олег",
        None,
        [
            (5, "in", "Добрый вечер, работаете завтра? Хочу забрать самовывозом."),
        ],
    ),
]


@functools.cache
def demo_password_hash() -> str:
    """The demo manager's argon2 hash, made once per process (a process that seeds several demo databases,
    like the test suite, pays for the 64 MiB hash once; each hash is a genuine one sign-in verifies)."""
    return hash_password(DEMO_PASSWORD)


async def seed(factory: SessionFactory) -> tuple[str, str] | None:
    """Create the demo shop; returns the manager login, or None when it already exists."""
    async with transaction(factory) as session:
        if (await session.execute(select(Manager).where(Manager.email == DEMO_EMAIL))).scalar_one_or_none():
            return None
        session.add(
            Manager(
                email=DEMO_EMAIL,
                name="Администратор",
                password_hash=demo_password_hash(),
                role="admin",
                locale="ru",
            )
        )
        accounts: dict[str, ChannelAccount] = {}
        for kind, name in (("telegram", "Демо Telegram"), ("vk", "Демо VK"), ("sms", "Демо SMS")):
            row = ChannelAccount(
                kind=kind, name=name, settings={"demo": True, "mode": "demo"}, secrets={}, state={}
            )
            session.add(row)
            accounts[kind] = row
        await session.flush()
        now = utcnow()
        for n, (kind, ext, name, phone, lines) in enumerate(CONVERSATIONS):
            account = accounts[kind]
            thread: Thread | None = None
            for i, (ago, direction, text) in enumerate(lines):
                at = now - timedelta(minutes=ago)
                if direction == "in":
                    await apply_message(
                        session,
                        InboundMessage(
                            kind=ChannelKind(kind),
                            account_id=account.id,
                            external_user_id=ext,
                            external_message_id=f"demo-{n}-{i}",
                            sent_at=at,
                            text=text,
                            contact=ContactHints(
                                display_name=name,
                                phone=phone if kind == "sms" else None,
                                phone_unverified=phone if kind != "sms" else None,
                                locale="ru",
                            ),
                        ),
                        [],
                    )
                    await session.flush()
                    thread = (
                        await session.execute(
                            select(Thread)
                            .join(Message, Message.thread_id == Thread.id)
                            .where(Message.external_id == f"demo-{n}-{i}")
                        )
                    ).scalar_one()
                else:
                    if thread is None:  # an outbound-first conversation: create it through an inbound later
                        continue
                    session.add(
                        Message(
                            thread_id=thread.id,
                            customer_id=thread.customer_id,
                            direction=Direction.OUT,
                            channel=kind,
                            account_id=account.id,
                            author=Author.MANAGER,
                            text=text,
                            delivery=Delivery.DELIVERED,
                            external_id=f"demo-out-{n}-{i}",
                            sent_at=at,
                            created_at=at,
                            revisions=[],
                            meta={},
                        )
                    )
            if thread is not None and lines[-1][1] == "out":
                thread.unread_count = 0
    return DEMO_EMAIL, DEMO_PASSWORD
