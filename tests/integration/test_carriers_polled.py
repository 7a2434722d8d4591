"""Почта России (SOAP getOperationHistory by barcode) and Boxberry (ListStatuses by number), followed by
polling, over real HTTP against their emulators, with the outbox and the Telegram emulator, on both databases:
a manager types the tracking number, the poller checks the parcel every poll interval, the status follows the
matrix, the customer is told once per step, a carrier that is down or answers garbage is retried and a
carrier that keeps failing is shown to the manager once, then caught up with when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.core.security import hash_password
from inbox.db import SessionFactory, make_engine, transaction
from inbox.models import CarrierAccount, Manager, Message, Order, Shipment
from inbox.orders.carriers.boxberry import BoxberryClient
from inbox.orders.carriers.polling import singleton
from inbox.orders.carriers.russianpost import RussianPostClient
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.settings import Settings
from tests.emulators.boxberry import BoxberryEmulator
from tests.emulators.russianpost import RussianPostEmulator
from tests.emulators.telegram import TelegramEmulator, text_update
from tests.integration.bots_world import World, seed_catalog
from tests.integration.test_payments_links import _order_for, _signed_in

CHAT = 7171
BARCODE = "80083577295862"
BB_NUMBER = "BBR0012345678"
# The account's poll interval (seconds; production accounts default to 30 minutes). Short, so that the steps
# below, each of which waits for a poll or a few, do not wait through a second each time.
POLL_INTERVAL = 0.2


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def post() -> Iterator[RussianPostEmulator]:
    with RussianPostEmulator() as e:
        yield e


@pytest.fixture
def bb() -> Iterator[BoxberryEmulator]:
    with BoxberryEmulator() as e:
        yield e


@pytest.fixture
async def world(factory: SessionFactory, settings: Settings) -> AsyncIterator[World]:
    w = World(
        factory,
        settings.with_(
            telegram_rate_per_chat=1000.0,
            telegram_rate_per_bot=1000.0,
            outbox_backoff_cap=1.0,
            outbox_max_attempts=3,
        ),
    )
    yield w
    await w.close()


async def _until(check: Callable[[], Any], what: str, tries: int = 400) -> Any:
    for _ in range(tries):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen")


def _texts(tg: TelegramEmulator) -> list[str]:
    return [str(r.params.get("text")) for r in tg.requests("sendMessage")]


@dataclass
class Carrier:
    """One polled carrier as the test drives it: its account and its emulator's steps."""

    kind: str
    code: str  # the order's carrier (``carrier`` table)
    track: str
    emulator: Any
    secrets: dict[str, str]
    accepted: Callable[[], None]
    moving: Callable[[], None]
    at_pickup: Callable[[], None]
    delivered: Callable[[], None]
    codes: list[str]
    pickup_address: str | None


def _russianpost(post: RussianPostEmulator) -> Carrier:
    return Carrier(
        kind="russianpost",
        code="russian_post",
        track=BARCODE,
        emulator=post,
        secrets={"login": post.login, "password": post.password},
        accepted=lambda: post.add_operation(BARCODE, 1, 1),
        moving=lambda: post.add_operation(BARCODE, 8, 3, "200961", "Тверь СЦ"),
        at_pickup=lambda: post.add_operation(BARCODE, 8, 2, "190000", "Санкт-Петербург 190000"),
        delivered=lambda: post.add_operation(BARCODE, 2, 1, "190000", "Санкт-Петербург 190000"),
        codes=["1.1", "8.3", "8.2", "2.1"],
        pickup_address="190000, Санкт-Петербург 190000",
    )


def _boxberry(bb: BoxberryEmulator) -> Carrier:
    return Carrier(
        kind="boxberry",
        code="boxberry",
        track=BB_NUMBER,
        emulator=bb,
        secrets={"token": bb.token},
        accepted=lambda: bb.add_status(BB_NUMBER, "Принято к доставке"),
        moving=lambda: bb.add_status(BB_NUMBER, "Передан на доставку до пункта выдачи"),
        at_pickup=lambda: bb.add_status(BB_NUMBER, "Поступило в пункт выдачи"),
        delivered=lambda: bb.add_status(BB_NUMBER, "Выдано"),
        codes=[
            "Принято к доставке",
            "Передан на доставку до пункта выдачи",
            "Поступило в пункт выдачи",
            "Выдано",
        ],
        pickup_address=None,
    )


async def _setup(world: World, tg: TelegramEmulator, carrier: Carrier) -> tuple[Order, int]:
    products = await seed_catalog(world.factory)
    await world.add_telegram(tg)
    await world.telegram(text_update(CHAT, "привет"), tg)
    order = await _order_for(world, "telegram", str(CHAT), products)
    async with transaction(world.factory) as session:
        session.add(Manager(email="olga@shop.ru", name="Ольга", password_hash=hash_password("olga-pass-123")))
        account = CarrierAccount(
            kind=carrier.kind,
            name=carrier.kind,
            settings={"api_base": carrier.emulator.base_url, "poll_interval": POLL_INTERVAL},
            secrets=carrier.secrets,
            state={},
        )
        session.add(account)
        await session.flush()
        return order, account.id


def _server(world: World) -> Any:
    from tests.server import threaded_server

    return threaded_server(world.settings, run_workers=True)


async def _status_is(world: World, order_id: int, code: str) -> None:
    async def check() -> bool:
        async with world.factory() as session:
            current = await session.get(Order, order_id)
            return current is not None and current.status == code

    await _until(check, f"status {code}")


async def _thread_events(world: World, thread_id: int, event: str) -> list[dict[str, Any]]:
    async with world.factory() as session:
        rows = (await session.execute(select(Message).where(Message.thread_id == thread_id))).scalars()
        return [dict(m.meta) for m in rows if m.meta.get("event") == event]


@pytest.mark.parametrize("kind", ["russianpost", "boxberry"])
async def test_typed_tracking_number_is_polled_to_delivered(
    world: World,
    tg: TelegramEmulator,
    post: RussianPostEmulator,
    bb: BoxberryEmulator,
    kind: str,
) -> None:
    carrier = _russianpost(post) if kind == "russianpost" else _boxberry(bb)
    order, _ = await _setup(world, tg, carrier)
    emu = carrier.emulator
    carrier.accepted()

    async def told(part: str) -> None:
        async def check() -> bool:
            return any(part in t for t in _texts(tg))

        await _until(check, f"the customer told {part!r}")

    async def polled_again() -> None:
        seen = len(emu.requests)

        async def check() -> bool:
            return len(emu.requests) >= seen + 2

        await _until(check, "two more polls")

    with _server(world) as base, closing(_signed_in(base)) as client:
        typed = client.post(
            f"/ui/orders/{order.id}/tracking",
            data={"carrier": carrier.code, "tracking_number": carrier.track},
        )
        assert typed.status_code == 200 and "order-error" not in typed.text, typed.text
        # the first check reads what the carrier knows; the matrix walks new → … → handed_to_delivery
        await _status_is(world, order.id, "handed_to_delivery")
        await told("передан перевозчику")
        emu.down = 2  # the carrier is down for a moment: retried, nothing lost
        carrier.moving()
        await _status_is(world, order.id, "in_delivery")
        emu.garbage = 1  # then answers an HTML page once
        carrier.at_pickup()
        await told("пункт выдачи")
        await polled_again()  # polled again and again: told once
        carrier.delivered()
        await _status_is(world, order.id, "delivered")
        await told("доставлен")
    texts = _texts(tg)
    pickup = [t for t in texts if "пункт выдачи" in t]
    assert len(pickup) == 1
    if carrier.pickup_address:
        assert carrier.pickup_address in pickup[0]
    assert sum("передан перевозчику" in t for t in texts) == 1
    assert sum("доставлен" in t for t in texts) == 1
    assert [e["code"] for e in await _thread_events(world, order.thread_id or 0, "parcel")] == carrier.codes
    assert await _thread_events(world, order.thread_id or 0, "parcel_check_failed") == []
    async with world.factory() as session:
        shipment = (await session.execute(select(Shipment))).scalar_one()
    assert shipment.track == carrier.track and not shipment.active and shipment.poll_failures == 0


async def test_a_carrier_that_keeps_failing_is_shown_once_and_caught_up_with(
    world: World, tg: TelegramEmulator, post: RussianPostEmulator
) -> None:
    carrier = _russianpost(post)
    order, account_id = await _setup(world, tg, carrier)
    async with transaction(world.factory) as session:  # a wrong password: Почта России refuses every check
        await session.execute(
            update(CarrierAccount)
            .where(CarrierAccount.id == account_id)
            .values(secrets={"login": post.login, "password": "wrong"})
        )
    carrier.accepted()
    with _server(world) as base, closing(_signed_in(base)) as client:
        typed = client.post(
            f"/ui/orders/{order.id}/tracking", data={"carrier": carrier.code, "tracking_number": BARCODE}
        )
        assert typed.status_code == 200, typed.text

        async def failed() -> list[dict[str, Any]]:
            return await _thread_events(world, order.thread_id or 0, "parcel_check_failed")

        (shown,) = await _until(failed, "the failure shown to the manager")
        assert shown["track"] == BARCODE and "авторизации" in shown["reason"]
        seen = post.histories()

        async def more_polls() -> bool:
            return post.histories() >= seen + 3

        await _until(more_polls, "polling went on")
        assert len(await failed()) == 1  # shown once, not at every poll
        post.down = 1000  # then the service is down past the outbox's attempts: still not shown again
        seen = len(post.requests)

        async def down_polls() -> bool:
            return len(post.requests) >= seen + 4

        await _until(down_polls, "checks retried while down")
        assert len(await failed()) == 1
        async with transaction(world.factory) as session:  # the password is fixed, the service is back
            await session.execute(
                update(CarrierAccount).where(CarrierAccount.id == account_id).values(secrets=carrier.secrets)
            )
        post.down = 0
        await _status_is(world, order.id, "handed_to_delivery")  # the event was not lost
    async with world.factory() as session:
        shipment = (await session.execute(select(Shipment))).scalar_one()
    assert shipment.poll_failures == 0 and shipment.active


async def test_one_poller_per_account_in_the_cluster(db_url: str, engine: AsyncEngine) -> None:
    other = make_engine(db_url)
    try:
        async with singleton(engine, 41) as first, singleton(other, 41) as second:
            if engine.dialect.name == "postgresql":
                assert first and not second  # the advisory lock: one holder in the cluster
            else:
                assert first and second  # SQLite runs one process
            async with singleton(other, 42) as another_account:
                assert another_account
        async with singleton(other, 41) as after:
            assert after  # released when the holder stops
    finally:
        await other.dispose()


async def test_clients_read_the_wire_formats(post: RussianPostEmulator, bb: BoxberryEmulator) -> None:
    post.add_operation(BARCODE, 1, 1, "101000", "Москва Почтамт")
    post.add_operation(BARCODE, 8, 2, "190000", "Санкт-Петербург 190000")
    client = RussianPostClient(post.login, post.password, post.base_url)
    events = await client.history(BARCODE)
    assert [(e.code, e.name) for e in events] == [
        ("1.1", "Прием: Единичный"),
        ("8.2", "Обработка: Прибыло в место вручения"),
    ]
    assert events[1].place == "190000, Санкт-Петербург 190000" and events[0].at < events[1].at
    assert events[0].at.utcoffset() is not None
    assert await client.history("80083577295000") == []
    assert "application/soap+xml" in post.requests[-1]["content_type"]
    with pytest.raises(ProviderRefused, match="авторизации"):
        await RussianPostClient(post.login, "nope", post.base_url).history(BARCODE)
    post.garbage = 1
    with pytest.raises(ProviderUnavailable):
        await client.history(BARCODE)
    post.down = 1
    with pytest.raises(ProviderUnavailable):
        await client.history(BARCODE)
    with pytest.raises(ProviderUnavailable):
        await RussianPostClient("l", "p", "http://127.0.0.1:9").history(BARCODE)

    bb.add_status(BB_NUMBER, "Принято к доставке")
    bb.add_status(BB_NUMBER, "Выдано", comment="Получатель: Иванов")
    box = BoxberryClient(bb.token, bb.base_url)
    got = await box.history(BB_NUMBER)
    assert [e.code for e in got] == ["Принято к доставке", "Выдано"]
    assert got[1].name == "Выдано (Получатель: Иванов)"
    assert bb.requests[-1] == {
        "path": "/json.php",
        "token": bb.token,
        "method": "ListStatuses",
        "ImId": BB_NUMBER,
    }
    assert await box.history("BB-UNKNOWN") == []  # not known yet (typed right after handing over)
    with pytest.raises(ProviderRefused, match="Ключ"):
        await BoxberryClient("bad", bb.base_url).history(BB_NUMBER)
    bb.garbage = 1
    with pytest.raises(ProviderUnavailable):
        await box.history(BB_NUMBER)
