"""Personal data from the customer card (admins only; mounted under /admin behind require_admin): export as
a ZIP and erase with confirmation, each with an audit entry."""

from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Template

from inbox import i18n
from inbox.core.events import Event, emit
from inbox.db import transaction
from inbox.privacy import NotFound, erase_customer, export_customer
from inbox.team import audit
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


class PersonalDataAdmin(Controller):
    @get("/customers/{customer_id:int}/export", name="customer_export")
    async def export(self, request: AnyRequest, customer_id: FromPath[int]) -> Response[bytes]:
        app = ctx(request)
        with tempfile.TemporaryDirectory(prefix="inbox-export-") as tmp:
            try:
                async with transaction(app.factory) as session:
                    result = await export_customer(session, customer_id, Path(tmp), app.settings.data_dir)
                    await audit.record(
                        session,
                        manager_of(request).id,
                        "customer.export",
                        f"customer {customer_id}",
                        files=result.files,
                    )
            except NotFound as exc:
                raise NotFoundException(i18n._("No such customer.")) from exc
            body = await asyncio.to_thread(_zip, Path(tmp))
        return Response(
            body,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"',
                "Cache-Control": "no-store",
            },
        )

    @post("/customers/{customer_id:int}/erase", name="customer_erase", status_code=200)
    async def erase(self, request: AnyRequest, customer_id: FromPath[int], data: Form) -> Template:
        if data.get("confirm") != "erase":
            raise ClientException(i18n._("Tick the confirmation to erase the customer's personal data."))
        app = ctx(request)
        me = manager_of(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                result = await erase_customer(session, customer_id, app.settings.data_dir)
                await audit.record(
                    session,
                    me.id,
                    "customer.erase",
                    f"customer {customer_id}",
                    deleted=result.deleted,
                    files=result.files,
                    raw_payloads=result.raw_payloads,
                )
                emit(session, Event("customer.updated", customer_id=customer_id, data={"erased": True}))
        except NotFound as exc:
            raise NotFoundException(i18n._("No such customer.")) from exc
        return Template(
            "customer_erased.html",
            context={"manager": me, "customer_id": customer_id, "result": result},
        )
