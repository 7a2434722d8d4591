"""The carriers' status maps (admin only; app.py mounts it on the /admin router): for each carrier, which
shop status (or status group) a parcel status moves the order to, which customer step it is and whether the
customer is told. Every save is an audit entry. And a shipment's label PDF for managers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import File, Template

from inbox import i18n
from inbox.core.files import resolve, safe_filename
from inbox.models import Shipment
from inbox.orders.carriers.statusmap import DEFAULTS, STEPS, MapRow, rows_of, save_rows
from inbox.orders.defaults import GROUPS
from inbox.orders.errors import OrdersError
from inbox.orders.statuses import load_statuses, status_name
from inbox.team import audit
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_ROWS = 500


def carrier_names() -> dict[str, str]:
    return {"cdek": "СДЭК", "russianpost": i18n._("Russian Post"), "boxberry": "Boxberry"}


def step_names() -> dict[str, str]:
    return {
        "handed_over": i18n._("Handed to the carrier"),
        "in_transit": i18n._("In transit"),
        "at_pickup": i18n._("At the pickup point"),
        "delivered": i18n._("Delivered"),
        "returned": i18n._("Returned"),
    }


def rows_from_form(data: dict[str, str]) -> list[MapRow]:
    rows = []
    for i in range(MAX_ROWS):
        code = data.get(f"code:{i}")
        if code is None:
            break
        if data.get(f"remove:{i}") == "1":
            continue
        rows.append(
            MapRow(
                code=code,
                target=(data.get(f"target:{i}") or "").strip(),
                step=(data.get(f"step:{i}") or "").strip(),
                notify=data.get(f"notify:{i}") == "1",
            )
        )
    new_code = (data.get("new_code") or "").strip()
    if new_code:
        rows.append(
            MapRow(
                code=new_code,
                target=(data.get("new_target") or "").strip(),
                step=(data.get("new_step") or "").strip(),
                notify=data.get("new_notify") == "1",
            )
        )
    return rows


class CarrierStatusesAdmin(Controller):
    @get("/carrier-statuses", name="carrier_statuses")
    async def page(self, request: AnyRequest) -> Template:
        return await self._page(request)

    @post("/carrier-statuses/{kind:str}", name="carrier_statuses_save")
    async def save(self, request: AnyRequest, kind: FromPath[str], data: Form) -> Template:
        if kind not in DEFAULTS:
            raise NotFoundException(i18n._("No such carrier."))
        manager = manager_of(request)
        try:
            async with ctx(request).factory() as session, session.begin():
                count = await save_rows(session, kind, rows_from_form(data))
                await audit.record(session, manager.id, "carrier_statuses.save", kind, count=count)
        except OrdersError as exc:
            return await self._page(request, error=exc.reason, kind=kind, status_code=400)
        return await self._page(request, saved=kind, kind=kind)

    async def _page(
        self,
        request: AnyRequest,
        *,
        error: str | None = None,
        saved: str | None = None,
        kind: str | None = None,
        status_code: int = 200,
    ) -> Template:
        locale = i18n.current()
        async with ctx(request).factory() as session:
            statuses = await load_statuses(session)
            maps = {k: await rows_of(session, k) for k in DEFAULTS}
        group_names = {
            "new": i18n._("New"),
            "approval": i18n._("Approval"),
            "assembling": i18n._("Assembling"),
            "delivery": i18n._("Delivery"),
            "complete": i18n._("Completed"),
            "cancel": i18n._("Cancelled"),
        }
        targets: list[tuple[str, list[tuple[str, str]]]] = []
        for g in GROUPS:
            options = [(f"group:{g}", i18n._("any status of the group: %(g)s") % {"g": group_names[g]})]
            options += [
                (f"status:{s.code}", status_name(s, locale)) for s in statuses.values() if s.group == g
            ]
            targets.append((group_names[g], options))
        return Template(
            "admin_carrier_statuses.html",
            context={
                "manager": manager_of(request),
                "maps": maps,
                "carriers": carrier_names(),
                "targets": targets,
                "steps": [(s, step_names()[s]) for s in STEPS],
                "error": error,
                "saved": saved,
                "kind": kind,
            },
            status_code=status_code,
        )


class ShipmentLabels(Controller):
    """A shipment's label PDF for the manager (app.py mounts it behind require_manager)."""

    @get("/ui/shipments/{shipment_id:int}/label.pdf", name="shipment_label")
    async def label(self, request: AnyRequest, shipment_id: FromPath[int]) -> File:
        app = ctx(request)
        async with app.factory() as session:
            shipment = await session.get(Shipment, shipment_id)
        if shipment is None or not shipment.label_path:
            raise NotFoundException(i18n._("This file is not available."))
        return File(
            path=resolve(app.settings.data_dir, shipment.label_path),
            filename=f"label-{safe_filename(shipment.track)}.pdf",
            media_type="application/pdf",
            content_disposition_type="attachment",
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )
