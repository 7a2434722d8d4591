"""The default map of carrier status codes to the shop's statuses and the customer's steps.

``status``: the shop status the order moves to (through the matrix; None: no move), or ``group``: the nearest
status of that group the matrix reaches. ``step``: the customer
step the event is (handed_over | in_transit | at_pickup | delivered | returned). ``notify``: the customer is
told at this step (once per order and step). Admins edit the ``carrier_status_map`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.i18n import _
from inbox.models import CarrierStatusMap
from inbox.orders.defaults import GROUPS
from inbox.orders.errors import InvalidInput
from inbox.orders.sql import insert_ignore
from inbox.orders.statuses import load_statuses

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
    """Seed the defaults of a carrier that has no map at all (the migration does the same); rows an admin
    removed from a map stay removed."""
    mapped = set((await session.execute(select(CarrierStatusMap.kind).distinct())).scalars())
    for row in default_rows():
        if row["kind"] not in mapped:
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


@dataclass(frozen=True, slots=True)
class MapRow:
    """One editable line: the carrier's ``code`` moves the order to ``target`` ("status:<code>", "group:<g>"
    or "" for no move), is the customer ``step`` ("" for none) and tells the customer when ``notify``."""

    code: str
    target: str
    step: str
    notify: bool


async def rows_of(session: AsyncSession, kind: str) -> list[MapRow]:
    found = (
        await session.execute(
            select(CarrierStatusMap).where(CarrierStatusMap.kind == kind).order_by(CarrierStatusMap.code)
        )
    ).scalars()
    order = {code: i for i, (code, *_rest) in enumerate(DEFAULTS.get(kind, []))}
    rows = [
        MapRow(
            r.code,
            f"status:{r.status}" if r.status else (f"group:{r.group}" if r.group else ""),
            r.step or "",
            r.notify,
        )
        for r in found
    ]
    return sorted(rows, key=lambda r: (order.get(r.code, len(order)), r.code))


async def save_rows(session: AsyncSession, kind: str, rows: list[MapRow]) -> int:
    """Replace ``kind``'s map with ``rows`` after checking every line (InvalidInput names the bad one)."""
    if kind not in DEFAULTS:
        raise InvalidInput("kind", _("unknown carrier %(kind)s") % {"kind": kind})
    statuses = await load_statuses(session)
    seen: set[str] = set()
    for row in rows:
        if not row.code or len(row.code) > 64 or row.code != row.code.strip():
            raise InvalidInput(
                "code", _("a carrier status code must be 1 to 64 characters: %(code)r") % {"code": row.code}
            )
        if row.code in seen:
            raise InvalidInput("code", _("%(code)s is listed twice") % {"code": row.code})
        seen.add(row.code)
        what, _sep, value = row.target.partition(":")
        if row.target and not (
            (what == "status" and value in statuses) or (what == "group" and value in GROUPS)
        ):
            raise InvalidInput(
                "target",
                _("%(code)s: unknown status or group %(target)s") % {"code": row.code, "target": row.target},
            )
        if row.step and row.step not in STEPS:
            raise InvalidInput(
                "step",
                _("%(code)s: the step must be one of %(steps)s")
                % {"code": row.code, "steps": ", ".join(STEPS)},
            )
        if row.notify and not row.step:
            raise InvalidInput(
                "notify", _("%(code)s: choose the customer step to tell them about") % {"code": row.code}
            )
    await session.execute(delete(CarrierStatusMap).where(CarrierStatusMap.kind == kind))
    for row in rows:
        what, _sep, value = row.target.partition(":")
        session.add(
            CarrierStatusMap(
                kind=kind,
                code=row.code,
                status=value if what == "status" else None,
                group=value if what == "group" else None,
                step=row.step or None,
                notify=row.notify,
            )
        )
    await session.flush()
    return len(rows)
