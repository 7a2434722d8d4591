"""Merging two customers who have each used every feature (a bot conversation with a cart, orders, notes,
labels, assignment, consent), through the API and through the web card, in the default configuration (bots
on), on SQLite and PostgreSQL. Before the merge policies this answered 500: ``UNIQUE constraint failed:
bot_state.customer_id``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.security import hash_password, new_api_token, token_digest
from inbox.customer_card.consent import consent_history, current_consent, record_consent
from inbox.db import SessionFactory, transaction
from inbox.models import (
    ApiToken,
    BotState,
    Customer,
    CustomerLabel,
    Direction,
    Manager,
    Message,
    Order,
    Product,
    Thread,
    ThreadLabel,
)
from inbox.orders import service
from inbox.settings import Settings
from inbox.team import assignment, labels, notes
from tests.emulators.sms import SMSEmulator
from tests.integration.bots_world import World, seed_catalog
from tests.integration.test_merge_api import served, sign_in

OLGA = "+79990001122"
OLEG = "+79990003344"
PASSWORD = "pw-123456789"


@pytest.fixture(scope="module")
def smsemu() -> Iterator[SMSEmulator]:
    with SMSEmulator() as emulator:
        yield emulator


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings, smsemu: SMSEmulator) -> AsyncIterator[World]:
    assert settings.bots_enabled, "the default configuration answers with the bot"
    smsemu.reset()
    w = World(factory, settings)
    await w.add_sms(smsemu)
    await seed_catalog(factory)
    yield w
    await w.close()


async def say(world: World, emu: SMSEmulator, sender: str, text: str) -> str:
    before = len(emu.sent)
    await world.sms(emu, sender, text)
    assert len(emu.sent) == before + 1, f"{text!r}: {[s['body'] for s in emu.sent[before:]]}"
    return str(emu.sent[-1]["body"])


async def use_everything(
    world: World, emu: SMSEmulator, phone: str, manager_id: int, label_ids: list[int], consent: bool
) -> int:
    """A bot conversation that leaves a cart, a submitted order, a note, labels, an assignment, consent."""
    assert "Носки спортивные" in await say(world, emu, phone, "есть ли носки?")
    await say(world, emu, phone, "1")  # the product card
    assert "Носки спортивные × 1" in await say(world, emu, phone, "1")  # into the cart
    customer_id = await world.customer_of("sms", phone)
    async with transaction(world.factory) as session:
        thread = (await session.execute(select(Thread).where(Thread.customer_id == customer_id))).scalar_one()
        actor = service.Actor.manager(manager_id)
        order = await service.do_create_draft(
            session, customer_id=customer_id, actor=actor, thread_id=thread.id
        )
        products = await seed_ids(session)
        await service.do_add_line(session, order, products["RUN-42"], 1, actor=actor)
        await service.do_submit(session, order, actor=actor)
        await notes.add_note(session, thread.id, manager_id, f"позвонить {phone}")
        for label_id in label_ids:
            await labels.label_customer(session, customer_id, label_id)
            await labels.label_thread(session, thread.id, label_id)
        await assignment.assign(session, thread.id, manager_id, manager_id)
        await record_consent(session, customer_id, "sms", consent, "manager", recorded_by=manager_id)
    state = await world.state(customer_id)
    assert state is not None and state.data.get("cart")
    return customer_id


async def seed_ids(session: AsyncSession) -> dict[str, int]:
    return {sku: pid for sku, pid in (await session.execute(select(Product.sku, Product.id))).all()}


@pytest.mark.parametrize("via", ["api", "web"])
async def test_merge_two_customers_who_used_every_feature(
    world: World, smsemu: SMSEmulator, factory: SessionFactory, settings: Settings, via: str
) -> None:
    raw = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="erp", token_sha256=token_digest(raw)))
        anna = Manager(
            email="anna@shop.test", name="Анна", password_hash=hash_password(PASSWORD), locale="ru"
        )
        ivan = Manager(
            email="ivan@shop.test", name="Иван", password_hash=hash_password(PASSWORD), locale="ru"
        )
        session.add_all([anna, ivan])
        await session.flush()
        anna_id, ivan_id = anna.id, ivan.id
        vip = (await labels.create_label(session, "VIP")).id
        opt = (await labels.create_label(session, "опт")).id

    olga = await use_everything(world, smsemu, OLGA, anna_id, [vip], True)
    oleg = await use_everything(world, smsemu, OLEG, ivan_id, [vip, opt], False)
    async with factory() as session:
        carts = {
            cid: (await session.get(BotState, cid)).data["cart"]  # type: ignore[union-attr]
            for cid in (olga, oleg)
        }

    with served(settings) as base:
        if via == "api":
            async with httpx.AsyncClient(
                base_url=base + "/api/v1", headers={"Authorization": f"Bearer {raw}"}, timeout=20
            ) as api:
                done = await api.post(
                    f"/customers/{olga}/merge",
                    json={"other_id": oleg, "choices": {"phone": "survivor", "name": "survivor"}},
                )
                assert done.status_code == 200, done.text
                moved = done.json()["moved"]
                assert moved["bot_state"] == 1 and moved["orders"] == 2 and moved["customer_label"] == 1
        else:
            async with httpx.AsyncClient(base_url=base, timeout=20) as web:
                csrf = await sign_in(web, "anna@shop.test", PASSWORD)
                done = await web.post(
                    f"/customers/{olga}/merge",
                    data={"other_id": str(oleg), "choice_phone": "survivor", "choice_name": "survivor"},
                    headers={"HX-Request": "true", "x-csrftoken": csrf},
                )
                assert done.status_code == 200, done.text
                assert done.headers["HX-Redirect"] == f"/customers/{olga}"
                card = await web.get(f"/customers/{olga}")
                assert card.status_code == 200 and OLEG in card.text  # the merged SMS identity

    async with factory() as session:
        states = list((await session.execute(select(BotState))).scalars())
        assert [s.customer_id for s in states] == [olga]
        assert states[0].data["cart"] in carts.values()
        thread = (await session.execute(select(Thread).where(Thread.customer_id == olga))).scalar_one()
        assert thread.assignee_id in (anna_id, ivan_id)
        orders = (await session.execute(select(Order.customer_id, Order.thread_id))).all()
        assert len(orders) == 4 and set(orders) == {(olga, thread.id)}  # two carts, two submitted
        note_count = (
            await session.execute(
                select(func.count())
                .select_from(Message)
                .where(Message.thread_id == thread.id, Message.direction == Direction.NOTE)
            )
        ).scalar_one()
        assert note_count == 2
        customer_labels = set(
            (await session.execute(select(CustomerLabel.customer_id, CustomerLabel.label_id))).all()
        )
        assert customer_labels == {(olga, vip), (olga, opt)}
        thread_labels = set(
            (await session.execute(select(ThreadLabel.thread_id, ThreadLabel.label_id))).all()
        )
        assert thread_labels == {(thread.id, vip), (thread.id, opt)}
        assert len(await consent_history(session, olga)) == 2
        assert not (await current_consent(session, olga))["sms"].marketing  # Oleg's answer is the newest
        other = await session.get(Customer, oleg)
        assert other is not None and other.merged_into_id == olga

    # The merged customer keeps writing from either number into the one thread; a manager holds it, so the
    # bot stays silent until the thread is unassigned, then answers with the cart it kept.
    before = len(smsemu.sent)
    await world.sms(smsemu, OLEG, "корзина")
    assert len(smsemu.sent) == before and await world.customer_of("sms", OLEG) == olga
    async with transaction(factory) as session:
        await assignment.assign(session, thread.id, None, anna_id)
    assert "Носки спортивные × 1" in await say(world, smsemu, OLGA, "корзина")
