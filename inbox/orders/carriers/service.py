"""Handing an order over to a carrier and following the parcel.

* ``register_cdek``: queue ``cdek.register`` (create the order at СДЭК, or find it by the shop's number
  after a lost answer; its number becomes the tracking; tracking starts), then ``cdek.label`` (the PDF).
* ``start_tracking`` (a manager typed a tracking number): a shipment for the carrier account of that kind and
  a first ``parcel.check``; Почта России and Boxberry parcels are then polled (polling.py).
* ``find_points`` / ``choose_point``: СДЭК pickup points of a city for the order panel, the tariff to one.
* ``accept_cdek``: an ORDER_STATUS webhook, committed as a ``parcel.check`` outbox task before the answer;
  the task reads the order back from СДЭК (webhooks are unsigned) and applies its statuses. A carrier that
  is down is retried with backoff; when the outbox gives up, the thread shows it.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import EventBus
from inbox.core.files import store_bytes
from inbox.core.outbox import Task, TaskRetry, queue_task, register_task
from inbox.core.secretbox import open_secrets
from inbox.core.types import ChannelSource
from inbox.db import SessionFactory, transaction
from inbox.i18n import _
from inbox.models import CarrierAccount, Order, Outbox, Shipment, utcnow
from inbox.orders import service
from inbox.orders.carriers.base import Tracker
from inbox.orders.carriers.boxberry import BoxberryClient
from inbox.orders.carriers.cdek import CdekClient, PickupOption, parse_webhook
from inbox.orders.carriers.russianpost import RussianPostClient
from inbox.orders.carriers.tracking import PickupPoint, apply_events
from inbox.orders.conversation import Effects, after_tracking, run_order_action, thread_event
from inbox.orders.errors import InvalidInput, NotFound, OrderError
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.settings import Settings

log = logging.getLogger(__name__)
KINDS = ("cdek", "russianpost", "boxberry")
CARRIER_CODE = {"cdek": "cdek", "russianpost": "russian_post", "boxberry": "boxberry"}  # carrier table codes
CHECK = "parcel.check"
REGISTER = "cdek.register"
LABEL = "cdek.label"


class BadWebhook(ValueError):
    """Not a carrier webhook we can take (400 with the reason)."""


POLLED = ("russianpost", "boxberry")  # carriers without webhooks: followed by polling (polling.py)
DEFAULT_POLL_SECONDS = 1800


def poll_interval(account: CarrierAccount) -> float:
    value = account.settings.get("poll_interval")
    return float(value) if isinstance(value, int | float) and value > 0 else float(DEFAULT_POLL_SECONDS)


def tracker_for(account: CarrierAccount, settings: Settings) -> Tracker:
    """The tracking client of a polled carrier account (its secrets opened from the box)."""
    if account.settings.get("demo"):
        from inbox.orders.carriers.demo import DemoTracker  # the demo shop's offline parcels

        return DemoTracker(account.settings)
    base = account.settings.get("api_base")
    secrets = open_secrets(settings, account)
    if account.kind == "russianpost":
        return RussianPostClient(str(secrets.get("login", "")), str(secrets.get("password", "")), base)
    if account.kind == "boxberry":
        return BoxberryClient(str(secrets.get("token", "")), base)
    raise ValueError(f"{account.kind} is not followed by polling")


def check_key(account_id: int, track: str) -> str:
    """The outbox chat id of a shipment's checks (one at a time, in order)."""
    return f"{account_id}:{track}"


_CDEK_CLIENTS: dict[tuple[int, str, str, str], CdekClient] = {}


def cdek_client(account: CarrierAccount, settings: Settings) -> CdekClient:
    """The СДЭК client (its credentials opened from the box), one per account and credentials in this
    process, so that its OAuth token (valid for an hour) serves every call until shortly before it expires
    instead of one token request per call. The token lives in memory only: it is never stored."""
    secrets = open_secrets(settings, account)
    client_id, client_secret = str(secrets.get("client_id", "")), str(secrets.get("client_secret", ""))
    base = account.settings.get("api_base")
    key = (account.id, str(base or ""), client_id, client_secret)
    client = _CDEK_CLIENTS.get(key)
    if client is None:
        if len(_CDEK_CLIENTS) >= 64:  # accounts whose credentials changed leave stale entries behind
            _CDEK_CLIENTS.clear()
        client = _CDEK_CLIENTS[key] = CdekClient(client_id, client_secret, base)
    return client


async def list_accounts(session: AsyncSession) -> list[CarrierAccount]:
    return list((await session.execute(select(CarrierAccount).order_by(CarrierAccount.id))).scalars())


async def account_of_kind(session: AsyncSession, kind: str) -> CarrierAccount | None:
    found: CarrierAccount | None = (
        await session.execute(
            select(CarrierAccount)
            .where(CarrierAccount.kind == kind, CarrierAccount.enabled.is_(True))
            .order_by(CarrierAccount.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    return found


async def start_tracking(
    session: AsyncSession, order: Order, track: str, external_id: str | None = None
) -> Shipment | None:
    """A shipment for ``order.carrier``'s account (None when no account of that carrier is connected)."""
    kind = next((k for k, code in CARRIER_CODE.items() if code == order.carrier), None)
    account = await account_of_kind(session, kind) if kind else None
    if account is None:
        return None
    row = (
        await session.execute(
            select(Shipment).where(Shipment.account_id == account.id, Shipment.track == track)
        )
    ).scalar_one_or_none()
    if row is None:
        row = Shipment(
            order_id=order.id, account_id=account.id, track=track, external_id=external_id, active=True
        )
        session.add(row)
        await session.flush()
    # read what the carrier already knows of it; polled carriers are then checked every poll interval
    queue_task(session, CHECK, check_key(account.id, track), {"account_id": account.id, "number": track})
    if kind in POLLED:
        row.next_poll_at = utcnow() + timedelta(seconds=poll_interval(account))
    return row


def _cdek_body(order: Order, lines: list[Any], customer: Any, settings: dict[str, Any]) -> dict[str, Any]:
    items = [
        {
            "name": ln.name[:255],
            "ware_key": ln.sku[:50],
            "payment": {"value": 0},
            "cost": ln.unit_price / 100,
            "weight": int(settings.get("item_weight", 500)),
            "amount": ln.qty,
        }
        for ln in lines
    ]
    body: dict[str, Any] = {
        "type": 1,
        "number": str(order.number),
        "tariff_code": int(settings.get("tariff_code", 136)),
        "recipient": {"name": customer.name or "—", "phones": [{"number": customer.phone or ""}]},
        "packages": [
            {
                "number": f"{order.number}-1",
                "weight": sum(i["weight"] * i["amount"] for i in items),
                "items": items,
            }
        ],
    }
    if settings.get("shipment_point"):
        body["shipment_point"] = settings["shipment_point"]
    point = pickup_point_code(order)
    if point:
        body["delivery_point"] = point
    elif order.delivery_address:
        body["to_location"] = {"address": order.delivery_address}
    return body


_POINT = re.compile(r"^\[([A-Za-z0-9_-]{1,32})\] ")


def pickup_point_code(order: Order) -> str | None:
    """The СДЭК pickup point the customer chose (the bot writes the address as ``[CODE] address``)."""
    found = _POINT.match(order.delivery_address or "")
    return found.group(1) if found else None


async def register_cdek(
    factory: SessionFactory, bus: EventBus, settings: Settings, order_id: int, wake: Any = None
) -> None:
    """Queue the order's registration with СДЭК as a durable outbox task (``cdek.register``: create the order,
    wait for its number, set the tracking, start tracking; then ``cdek.label``: fetch the label PDF). Each is
    retried with backoff while СДЭК is down; the thread shows the progress and, when the outbox gives up,
    the failure."""
    from inbox.core.customers import live_customer

    async def act(session: AsyncSession, fx: Effects) -> None:
        order = await service.get_order(session, order_id, lock=True)
        if order.status == "draft":
            raise OrderError(_("submit the draft before handing it over"))
        account = await account_of_kind(session, "cdek")
        if account is None:
            raise NotFound(_("no СДЭК account is connected: `inbox carrier add cdek …`"))
        chat = f"task:{REGISTER}:{order.id}"
        busy = (
            await session.execute(select(Outbox.id).where(Outbox.chat_id == chat, Outbox.done_at.is_(None)))
        ).first()
        if busy is not None:
            raise OrderError(_("the order is already being registered with СДЭК"))
        lines = await service.order_lines(session, order.id)
        customer = await live_customer(session, order.customer_id)
        body = _cdek_body(order, lines, customer, account.settings)
        queue_task(
            session, REGISTER, str(order.id), {"account_id": account.id, "order_id": order.id, "body": body}
        )
        fx.queued = True
        await thread_event(session, fx, order, "cdek_registering")

    await run_order_action(factory, bus, settings, act, wake)


async def pending_cdek(session: AsyncSession, order_id: int) -> bool:
    """A registration or label task of the order is queued or being retried (the panel says so)."""
    chats = [f"task:{REGISTER}:{order_id}", f"task:{LABEL}:{order_id}"]
    found = (
        await session.execute(select(Outbox.id).where(Outbox.chat_id.in_(chats), Outbox.done_at.is_(None)))
    ).first()
    return found is not None


async def shipment_labels(session: AsyncSession, order_id: int) -> list[tuple[int, str]]:
    """(shipment id, track) of the order's shipments that have a label PDF."""
    rows = await session.execute(
        select(Shipment.id, Shipment.track)
        .where(Shipment.order_id == order_id, Shipment.label_path.is_not(None))
        .order_by(Shipment.id)
    )
    return [(int(i), str(t)) for i, t in rows.all()]


def register_task_factory(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Any, hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        order_id = int(payload["order_id"])
        async with factory() as session:
            account = await session.get(CarrierAccount, int(payload["account_id"]))
            order = await session.get(Order, order_id)
            if account is None or not account.enabled:
                raise RuntimeError("the СДЭК account was removed or disabled")
            if order is None:
                return
            client = cdek_client(account, settings)
            number = str(order.number)
        try:
            # created before a timeout or a crash? (СДЭК has no idempotence key: look the shop's number up)
            found = await client.find_by_im_number(number)
            uuid = found.uuid if found is not None else await client.create_order(dict(payload["body"]))
            registered = found if found is not None and found.cdek_number else await client.order(uuid)
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise RuntimeError(exc.reason) from exc
        if not registered.cdek_number:
            raise TaskRetry("СДЭК has not registered the order yet")
        cdek_number = registered.cdek_number

        async def act(session: AsyncSession, fx: Effects) -> None:
            current = await service.get_order(session, order_id, lock=True)
            if current.tracking_number != cdek_number:
                current = await service.do_set_tracking(
                    session, current, carrier="cdek", track=cdek_number, actor=service.SYSTEM
                )
                await after_tracking(session, fx, current)
            shipment = await start_tracking(session, current, cdek_number, external_id=uuid)
            if shipment is not None:
                shipment.external_id = uuid
            queue_task(
                session,
                LABEL,
                str(order_id),
                {"account_id": int(payload["account_id"]), "order_id": order_id, "uuid": uuid},
            )
            fx.queued = True
            await thread_event(session, fx, current, "cdek_registered", track=cdek_number)

        await run_order_action(factory, bus, settings, act, wake)

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        await _cdek_failed(factory, bus, settings, wake, int(payload["order_id"]), "register", reason)

    return Task(run=run, give_up=give_up)


def label_task_factory(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Any, hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        async with factory() as session:
            account = await session.get(CarrierAccount, int(payload["account_id"]))
            if account is None or not account.enabled:
                raise RuntimeError("the СДЭК account was removed or disabled")
            client = cdek_client(account, settings)
        uuid = str(payload["uuid"])
        try:
            pdf = await client.label(uuid, attempts=4)
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise RuntimeError(exc.reason) from exc
        path = store_bytes(settings.data_dir, pdf).path

        async def act(session: AsyncSession, fx: Effects) -> None:
            shipment = (
                (await session.execute(select(Shipment).where(Shipment.external_id == uuid)))
                .scalars()
                .first()
            )
            if shipment is None:
                return
            shipment.label_path = path
            order = await service.get_order(session, shipment.order_id)
            await thread_event(session, fx, order, "cdek_label", track=shipment.track)

        await run_order_action(factory, bus, settings, act, wake)

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        await _cdek_failed(factory, bus, settings, wake, int(payload["order_id"]), "label", reason)

    return Task(run=run, give_up=give_up)


async def _cdek_failed(
    factory: SessionFactory,
    bus: EventBus,
    settings: Settings,
    wake: Any,
    order_id: int,
    stage: str,
    reason: str,
) -> None:
    async def act(session: AsyncSession, fx: Effects) -> None:
        order = await session.get(Order, order_id)
        if order is not None:
            await thread_event(session, fx, order, "cdek_failed", stage=stage, reason=reason[:500])

    await run_order_action(factory, bus, settings, act, wake)


async def quote_cdek(
    factory: SessionFactory, bus: EventBus, settings: Settings, order_id: int, actor: Any, wake: Any = None
) -> tuple[int, int | None, int | None]:
    """СДЭК's tariff for the order's address; the cost goes into the order (delivery cost → total)."""
    async with factory() as session:
        order = await service.get_order(session, order_id)
        if not (order.delivery_address or "").strip():
            raise OrderError("enter the delivery address first")
        account = await account_of_kind(session, "cdek")
        if account is None:
            raise NotFound("no СДЭК account is connected: `inbox carrier add cdek …`")
        lines = await service.order_lines(session, order.id)
        weight = sum(int(account.settings.get("item_weight", 500)) * ln.qty for ln in lines)
        client = cdek_client(account, settings)
        tariff = int(account.settings.get("tariff_code", 136))
        address = str(order.delivery_address)
        origin = account.settings.get("from_address")
    cost, low, high = await client.tariff(tariff, address, weight, origin)

    async def act(session: AsyncSession, fx: Effects) -> None:
        current = await service.get_order(session, order_id)
        await service.do_set_delivery(
            session,
            current,
            method=current.delivery_method or "СДЭК",
            address=current.delivery_address,
            cost=cost,
            actor=actor,
        )

    await run_order_action(factory, bus, settings, act, wake)
    return cost, low, high


async def find_points(
    factory: SessionFactory, settings: Settings, city: str
) -> tuple[int | None, list[PickupOption]]:
    """СДЭК's code of ``city`` and its pickup points (the order panel's search)."""
    city = " ".join(city.split())
    if not 2 <= len(city) <= 100:
        raise InvalidInput("city", _("type a city (2 to 100 characters)"))
    async with factory() as session:
        account = await account_of_kind(session, "cdek")
        if account is None:
            raise NotFound(_("no СДЭК account is connected: `inbox carrier add cdek …`"))
        client = cdek_client(account, settings)
    code = await client.city_code(city)
    return code, (await client.pickup_points(code, limit=10) if code is not None else [])


async def choose_point(
    factory: SessionFactory,
    bus: EventBus,
    settings: Settings,
    order_id: int,
    city_code: int,
    point_code: str,
    actor: Any,
    wake: Any = None,
) -> int:
    """The manager picks a СДЭК pickup point: the order's delivery becomes that point with the tariff's cost
    to its city (the cost goes into the total); returns the cost."""
    async with factory() as session:
        order = await service.get_order(session, order_id)
        account = await account_of_kind(session, "cdek")
        if account is None:
            raise NotFound(_("no СДЭК account is connected: `inbox carrier add cdek …`"))
        lines = await service.order_lines(session, order.id)
        weight = sum(int(account.settings.get("item_weight", 500)) * ln.qty for ln in lines)
        tariff = int(account.settings.get("tariff_code", 136))
        client = cdek_client(account, settings)
    point = next((p for p in await client.pickup_points(city_code, limit=200) if p.code == point_code), None)
    if point is None:
        raise InvalidInput("point", _("СДЭК has no such pickup point in that city"))
    cost = await client.tariff_to_city(tariff, city_code, weight)
    address = f"[{point.code}] {point.address}" + (f" ({point.hours})" if point.hours else "")

    async def act(session: AsyncSession, fx: Effects) -> None:
        current = await service.get_order(session, order_id)
        await service.do_set_delivery(
            session, current, method="cdek_pvz", address=address, cost=cost, actor=actor
        )

    await run_order_action(factory, bus, settings, act, wake)
    return cost


async def accept_cdek(factory: SessionFactory, account_id: int, body: bytes) -> None:
    try:
        hook = parse_webhook(body)
    except ValueError as exc:
        raise BadWebhook(str(exc)) from exc
    async with transaction(factory) as session:
        account = await session.get(CarrierAccount, account_id)
        if account is None or not account.enabled or account.kind != "cdek":
            raise NotFound(f"no enabled cdek account {account_id}")
        queue_task(session, CHECK, f"{account_id}:{hook.uuid}", {"account_id": account_id, "uuid": hook.uuid})


def check_task(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Any, hub: ChannelSource
) -> Task:
    async def run(payload: dict[str, Any]) -> None:
        account_id = int(payload["account_id"])
        async with factory() as session:
            account = await session.get(CarrierAccount, account_id)
            if account is None or not account.enabled:
                return
            client = cdek_client(account, settings) if account.kind == "cdek" else None
        if account.kind in POLLED:
            await _check_polled(account, str(payload["number"]))
            return
        assert client is not None
        try:
            if payload.get("uuid"):
                found = await client.order(str(payload["uuid"]))
            else:
                found = await client.order_by_number(str(payload["number"]))
            point = None
            if found.delivery_point and any(e.code == "ACCEPTED_AT_PICK_UP_POINT" for e in found.events):
                got = await client.delivery_point(found.delivery_point)
                point = PickupPoint(*got) if got else None
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise RuntimeError(exc.reason) from exc

        async def act(session: AsyncSession, fx: Effects) -> None:
            conds = [Shipment.external_id == found.uuid]
            if found.cdek_number:
                conds.append(Shipment.track == found.cdek_number)
            shipment = (
                (
                    await session.execute(
                        select(Shipment)
                        .where(Shipment.account_id == account_id, or_(*conds))
                        .with_for_update()
                    )
                )
                .scalars()
                .first()
            )
            if shipment is None:
                log.info("СДЭК order %s is not one of our shipments", found.uuid)
                return
            if shipment.external_id is None:
                shipment.external_id = found.uuid
            shipment.poll_failures = 0  # a later failure is shown again
            await apply_events(session, fx, shipment, "cdek", found.events, point)

        await run_order_action(factory, bus, settings, act, wake)

    async def _check_polled(account: CarrierAccount, number: str) -> None:
        try:
            events = await tracker_for(account, settings).history(number)
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise RuntimeError(exc.reason) from exc

        async def act(session: AsyncSession, fx: Effects) -> None:
            shipment = (
                await session.execute(
                    select(Shipment)
                    .where(Shipment.account_id == account.id, Shipment.track == number)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if shipment is None:
                return
            shipment.poll_failures = 0
            await apply_events(session, fx, shipment, account.kind, events)

        await run_order_action(factory, bus, settings, act, wake)

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        account_id = int(payload["account_id"])

        async def act(session: AsyncSession, fx: Effects) -> None:
            key = payload.get("uuid") or payload.get("number")
            shipment = (
                (
                    await session.execute(
                        select(Shipment).where(
                            Shipment.account_id == account_id,
                            or_(Shipment.external_id == key, Shipment.track == key),
                        )
                    )
                )
                .scalars()
                .first()
            )
            if shipment is not None:
                shipment.poll_failures += 1
                if shipment.poll_failures > 1:
                    return  # the manager was told at the first failure of this run; polling goes on
                order = await service.get_order(session, shipment.order_id)
                await thread_event(
                    session, fx, order, "parcel_check_failed", track=shipment.track, reason=reason[:500]
                )

        await run_order_action(factory, bus, settings, act, wake)

    return Task(run=run, give_up=give_up)


register_task(CHECK, check_task)
register_task(REGISTER, register_task_factory)
register_task(LABEL, label_task_factory)
