"""The default map of carrier status codes to the shop's statuses and the customer's steps.

``status``: the shop status the order moves to (through the matrix; None: no move). ``step``: the customer
step the event is (handed_over | in_transit | at_pickup | delivered | returned). ``notify``: the customer is
told at this step (once per order and step). Admins edit the ``carrier_status_map`` table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import CarrierStatusMap
from inbox.orders.sql import insert_ignore

STEPS = ("handed_over", "in_transit", "at_pickup", "delivered", "returned")

_CDEK: list[tuple[str, str | None, str | None, bool]] = [
    ("CREATED", None, None, False),
    ("ACCEPTED", "handed_to_delivery", "handed_over", True),
    ("RECEIVED_AT_SHIPMENT_WAREHOUSE", "handed_to_delivery", "handed_over", True),
    ("READY_FOR_SHIPMENT_IN_SENDER_CITY", "in_delivery", "in_transit", False),
    ("SENT_TO_TRANSIT_CITY", "in_delivery", "in_transit", False),
    ("ACCEPTED_IN_TRANSIT_CITY", "in_delivery", "in_transit", False),
    ("SENT_TO_RECIPIENT_CITY", "in_delivery", "in_transit", False),
    ("ACCEPTED_IN_RECIPIENT_CITY", "in_delivery", "in_transit", False),
    ("ACCEPTED_AT_PICK_UP_POINT", None, "at_pickup", True),
    ("TAKEN_BY_COURIER", "in_delivery", "in_transit", False),
    ("DELIVERED", "delivered", "delivered", True),
    ("NOT_DELIVERED", None, None, False),
    ("RETURNED_TO_SENDER_CITY_WAREHOUSE", "returned", "returned", False),
]
_RUSSIANPOST: list[tuple[str, str | None, str | None, bool]] = [
    ("1", "handed_to_delivery", "handed_over", True),  # Приём
    ("8", "in_delivery", "in_transit", False),  # Обработка
    ("8.2", None, "at_pickup", True),  # Прибыло в место вручения
    ("2", "delivered", "delivered", True),  # Вручение
    ("3", "returned", "returned", False),  # Возврат
]
_BOXBERRY: list[tuple[str, str | None, str | None, bool]] = [
    ("Принято к доставке", "handed_to_delivery", "handed_over", True),
    ("Передан на доставку до пункта выдачи", "in_delivery", "in_transit", False),
    ("Поступило в пункт выдачи", None, "at_pickup", True),
    ("Выдано", "delivered", "delivered", True),
    ("Возвращено в ИМ", "returned", "returned", False),
]
DEFAULTS: dict[str, list[tuple[str, str | None, str | None, bool]]] = {
    "cdek": _CDEK,
    "russianpost": _RUSSIANPOST,
    "boxberry": _BOXBERRY,
}


def default_rows() -> list[dict[str, Any]]:
    return [
        {"kind": kind, "code": code, "group": None, "status": status, "step": step, "notify": notify}
        for kind, rows in DEFAULTS.items()
        for code, status, step, notify in rows
    ]


async def ensure_map(session: AsyncSession) -> None:
    """Seed the defaults where missing (the migration does the same)."""
    for row in default_rows():
        await session.execute(insert_ignore(session, CarrierStatusMap, row))


async def lookup(session: AsyncSession, kind: str, code: str) -> CarrierStatusMap | None:
    """The row for ``code``; for a dotted code (Почта России ``"8.2"``: operation 8, attribute 2) without a
    row of its own, the row of the operation (``"8"``)."""
    for candidate in (code, code.split(".", 1)[0]) if "." in code else (code,):
        found: CarrierStatusMap | None = (
            await session.execute(
                select(CarrierStatusMap).where(
                    CarrierStatusMap.kind == kind, CarrierStatusMap.code == candidate
                )
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
    return None
