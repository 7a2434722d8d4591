"""The bot's СДЭК pickup-point step in checkout: when a СДЭК account is connected, "СДЭК pickup point" is one
of the delivery methods; the customer types a city, and the bot offers that city's pickup points with the
tariff's cost, which goes into the order total.

The carrier is asked outside the bot's transaction: typing the city queues a ``bot.pvz`` outbox task (so a
slow or dead СДЭК never holds the database or the customer's other messages); when it answers, the task runs a
bot turn that offers the points. While СДЭК is down the task is retried; when the outbox gives up, the bot
says so and asks for another delivery method.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from inbox.bots.config import DeliveryMethod
from inbox.bots.payloads import Action
from inbox.bots.turn import Option, Turn
from inbox.core.events import EventBus
from inbox.core.outbox import Task, TaskRetry, queue_task, register_task
from inbox.core.types import ChannelSource
from inbox.db import SessionFactory
from inbox.i18n import _
from inbox.models import CarrierAccount, Order, OrderLine
from inbox.orders.carriers.cdek import PickupOption
from inbox.orders.carriers.service import account_of_kind, cdek_client
from inbox.orders.notify import format_rub
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable
from inbox.settings import Settings

CDEK_PVZ = "cdek_pvz"
POINTS = "bot.pvz"


async def pvz_method(turn: Turn) -> DeliveryMethod | None:
    """The pickup-point method, when a СДЭК account is connected."""
    if await account_of_kind(turn.session, "cdek") is None:
        return None
    return DeliveryMethod(CDEK_PVZ, {"ru": "Пункт выдачи СДЭК", "en": "СДЭК pickup point"}, 0, False)


def cancel_row() -> list[Option]:
    return [Option(_("Cancel"), Action("cancel"))]


def ask_city(turn: Turn) -> None:
    turn.step = "pvz_city"
    turn.say(_("Which city should the parcel go to? Type the city's name."), [cancel_row()])


async def got_city(turn: Turn, text: str, order: Order | None) -> None:
    city = " ".join(text.split())
    if not 2 <= len(city) <= 100 or order is None:
        ask_city(turn)
        return
    account = await account_of_kind(turn.session, "cdek")
    if account is None:
        from inbox.bots import checkout

        turn.say(_("Pickup points are not available now; please choose another delivery method."))
        await checkout.ask(turn, "delivery")
        return
    lines = (await turn.session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars()
    weight = sum(int(account.settings.get("item_weight", 500)) * ln.qty for ln in lines)
    queue_task(
        turn.session,
        POINTS,
        str(turn.customer.id),
        {
            "account_id": account.id,
            "customer_id": turn.customer.id,
            "channel": turn.channel,
            "city": city,
            "weight": weight,
        },
    )
    turn.step = "pvz_wait"
    turn.say(_("Looking for pickup points in %(city)s…") % {"city": city}, [cancel_row()])


def offer_points(turn: Turn, city: str, points: list[PickupOption], cost: int) -> None:
    if turn.step != "pvz_wait":
        return  # the customer went elsewhere meanwhile
    checkout = turn.data.setdefault("checkout", {})
    if not points:
        turn.step = "pvz_city"
        turn.say(
            _("СДЭК has no pickup points in %(city)s. Type another city, or cancel.") % {"city": city},
            [cancel_row()],
        )
        return
    checkout["pvz"] = {p.code: [p.address, p.hours] for p in points}
    checkout["cost"] = cost
    turn.step = "pvz"
    rows = [[Option(p.address, Action("pvz", p.code))] for p in points]
    turn.say(
        _("Pickup points in %(city)s; delivery costs %(cost)s. Choose one:")
        % {"city": city, "cost": format_rub(cost)},
        [*rows, cancel_row()],
    )


def offer_failed(turn: Turn) -> None:
    turn.say(_("СДЭК is not answering now; please choose another delivery method, or try again later."))


def choose_point(turn: Turn, code: str) -> bool:
    """A pickup point button; False when it is not one of the offered points (a stale button)."""
    checkout = turn.data.setdefault("checkout", {})
    offered = checkout.get("pvz") or {}
    if turn.step != "pvz" or code not in offered:
        return False
    address, hours = offered[code]
    checkout["point"] = code
    checkout["address"] = f"[{code}] {address}" + (f" ({hours})" if hours else "")
    return True


def points_task(
    factory: SessionFactory, bus: EventBus, settings: Settings, wake: Any, hub: ChannelSource
) -> Task:
    from inbox.bots.engine import BotEngine

    engine = BotEngine(factory, settings, bus=bus, hub=hub, wake=wake)

    async def run(payload: dict[str, Any]) -> None:
        async with factory() as session:
            account = await session.get(CarrierAccount, int(payload["account_id"]))
        if account is None or not account.enabled:
            raise RuntimeError("the СДЭК account was removed or disabled")
        client = cdek_client(account, settings)
        city = str(payload["city"])
        try:
            code = await client.city_code(city)
            points = await client.pickup_points(code) if code is not None else []
            cost = (
                await client.tariff_to_city(
                    int(account.settings.get("tariff_code", 136)), code, int(payload["weight"])
                )
                if code is not None and points
                else 0
            )
        except ProviderUnavailable as exc:
            raise TaskRetry(exc.reason) from exc
        except ProviderRefused as exc:
            raise RuntimeError(exc.reason) from exc
        await engine.run_for(
            int(payload["customer_id"]), str(payload["channel"]), lambda t: _offer(t, city, points, cost)
        )

    async def give_up(payload: dict[str, Any], reason: str) -> None:
        await engine.run_for(int(payload["customer_id"]), str(payload["channel"]), _failed)

    return Task(run=run, give_up=give_up)


async def _offer(turn: Turn, city: str, points: list[PickupOption], cost: int) -> None:
    offer_points(turn, city, points, cost)


async def _failed(turn: Turn) -> None:
    if turn.step == "pvz_wait":
        from inbox.bots import checkout

        offer_failed(turn)
        await checkout.ask(turn, "delivery")


register_task(POINTS, points_task)
