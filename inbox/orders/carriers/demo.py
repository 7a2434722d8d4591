"""The demo mode of a polled carrier (a Boxberry account with ``settings["demo"]``, added by ``inbox demo``
only): offline, its "API" is the account's own record of how far each parcel has gone. A parcel moves one
step when someone presses "next status" on the demo shop's page; the step is then read back through the
carrier's normal check (the ``parcel.check`` task a poll queues), so the order's status, the thread's
parcel events and the customer's notices follow the path of a real Boxberry parcel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.outbox import queue_task
from inbox.models import CarrierAccount, Shipment, utcnow
from inbox.orders.carriers.base import ParcelEvent
from inbox.orders.errors import NotFound, OrderError

# Boxberry's own status names (keys of its status map), with the city each happens in.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("Принято к доставке", "Москва"),
    ("Передан на доставку до пункта выдачи", "Москва"),
    ("Поступило в пункт выдачи", "Москва"),
    ("Выдано", "Москва"),
)
POINT = "ПВЗ Boxberry, Москва, Профсоюзная, 40 (ежедневно 10:00–21:00)"


def is_demo(account: CarrierAccount) -> bool:
    return bool(account.settings.get("demo"))


class DemoTracker:
    """The events a demo parcel has reached, oldest first, at the times they were reached."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.progress: dict[str, list[str]] = dict(settings.get("demo_parcels") or {})

    async def history(self, number: str) -> list[ParcelEvent]:
        out = []
        for (name, city), at in zip(SCRIPT, self.progress.get(number, []), strict=False):
            when = datetime.fromisoformat(at)
            place = POINT if name == SCRIPT[2][0] else None
            out.append(ParcelEvent(code=name, name=name, city=city, at=when.astimezone(UTC), place=place))
        return out


def reached(account: CarrierAccount, track: str) -> int:
    return len((account.settings.get("demo_parcels") or {}).get(track, []))


def step(account: CarrierAccount, track: str, at: datetime | None = None) -> int:
    """Move the parcel one step on the carrier's side; returns how many steps it has reached."""
    parcels = {k: list(v) for k, v in (account.settings.get("demo_parcels") or {}).items()}
    times = parcels.setdefault(track, [])
    if len(times) >= len(SCRIPT):
        raise OrderError("the parcel has already been delivered")
    times.append((at or utcnow()).isoformat())
    account.settings = {**account.settings, "demo_parcels": parcels}
    return len(times)


async def advance(session: AsyncSession, shipment_id: int) -> Shipment:
    """The button: the parcel moves one step, then is checked like at a poll (the caller wakes the outbox)."""
    from inbox.orders.carriers.service import CHECK, check_key  # the service builds the demo tracker

    shipment = await session.get(Shipment, shipment_id, with_for_update=True)
    account = await session.get(CarrierAccount, shipment.account_id) if shipment is not None else None
    if shipment is None or account is None or not is_demo(account):
        raise NotFound(f"no demo parcel {shipment_id}")
    step(account, shipment.track)
    queue_task(
        session,
        CHECK,
        check_key(account.id, shipment.track),
        {"account_id": account.id, "number": shipment.track},
    )
    await session.flush()
    return shipment


async def demo_parcels(session: AsyncSession) -> list[tuple[Shipment, CarrierAccount]]:
    rows = await session.execute(
        select(Shipment, CarrierAccount)
        .join(CarrierAccount, CarrierAccount.id == Shipment.account_id)
        .order_by(Shipment.id)
    )
    return [(s, a) for s, a in rows.all() if is_demo(a)]
