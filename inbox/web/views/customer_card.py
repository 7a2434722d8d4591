"""The 360° card's own actions: edit the profile (name, phone, email, addresses, birthday, custom fields),
record marketing consent per channel (source "manager"), the compact card of the thread's side panel,
and the admin page where custom fields are defined."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from inbox import i18n
from inbox.core.customers import live_customer
from inbox.core.events import Event, emit
from inbox.customer_card.card import card_data
from inbox.customer_card.consent import ConsentError, record_consent
from inbox.customer_card.fields import FieldError, all_fields, define_field, delete_field, kind_labels
from inbox.customer_card.profile import ProfileError, update_profile
from inbox.db import transaction
from inbox.models import Customer, CustomField
from inbox.team import audit
from inbox.web.auth import manager_of
from inbox.web.state import ctx
from inbox.web.views.customers import card_context

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _card(
    request: AnyRequest, customer_id: int, errors: list[str], status: int = 200
) -> Template | Redirect:
    async with ctx(request).factory() as session:
        data = await card_context(session, customer_id)
    data["manager"] = manager_of(request)
    data["profile_errors"] = errors
    if request.headers.get("hx-request"):
        return Template(
            "_customer_card.html",
            context=data,
            status_code=status,
            headers={"HX-Reswap": "outerHTML", "HX-Retarget": "#customer-card"},
        )
    if not errors:
        return Redirect(path=f"/customers/{customer_id}", status_code=303)
    return Template("customer.html", context=data, status_code=status)


async def _live_id(request: AnyRequest, customer_id: int) -> int:
    async with ctx(request).factory() as session:
        if await session.get(Customer, customer_id) is None:
            raise NotFoundException(i18n._("No such customer."))
        return (await live_customer(session, customer_id)).id


class CustomerCardController(Controller):
    @post("/customers/{customer_id:int}/profile", name="customer_profile", status_code=200)
    async def profile(
        self, request: AnyRequest, customer_id: FromPath[int], data: Form
    ) -> Template | Redirect:
        app = ctx(request)
        live_id = await _live_id(request, customer_id)
        try:
            async with app.bus.transaction(app.factory) as session:
                customer = await session.get(Customer, live_id)
                assert customer is not None
                await update_profile(session, customer, data)
                emit(session, Event("customer.updated", customer_id=live_id, data={"profile": True}))
        except ProfileError as exc:
            return await _card(request, live_id, exc.reasons, 400)
        return await _card(request, live_id, [])

    @post("/customers/{customer_id:int}/consent", name="customer_consent", status_code=200)
    async def consent(
        self, request: AnyRequest, customer_id: FromPath[int], data: Form
    ) -> Template | Redirect:
        app = ctx(request)
        live_id = await _live_id(request, customer_id)
        manager = manager_of(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                await record_consent(
                    session,
                    live_id,
                    data.get("channel") or "",
                    data.get("marketing") == "1",
                    "manager",
                    recorded_by=manager.id,
                )
                emit(session, Event("customer.updated", customer_id=live_id, data={"consent": True}))
        except ConsentError as exc:
            return await _card(request, live_id, [exc.reason], 400)
        return await _card(request, live_id, [])

    @get("/customers/{customer_id:int}/compact", name="customer_compact")
    async def compact(self, request: AnyRequest, customer_id: FromPath[int]) -> Template:
        """The card in the thread's side panel: figures, labels, consent, the latest orders."""
        live_id = await _live_id(request, customer_id)
        async with ctx(request).factory() as session:
            customer = await session.get(Customer, live_id)
            assert customer is not None
            card = await card_data(session, customer)
        return Template("_customer_compact.html", context={"card": card, "manager": manager_of(request)})


class CustomFieldsAdmin(Controller):
    path = "/custom-fields"

    @get("/", name="admin_custom_fields")
    async def page(self, request: AnyRequest) -> Template:
        return await self._page(request, None)

    @post("/", name="admin_custom_field_add", status_code=303)
    async def add(self, request: AnyRequest, data: Form) -> Template | Redirect:
        me = manager_of(request)
        options = [o for o in (data.get("options") or "").splitlines()]
        try:
            async with transaction(ctx(request).factory) as session:
                row = await define_field(
                    session,
                    key=data.get("key") or "",
                    name=data.get("name") or "",
                    kind=data.get("kind") or "",
                    options=options,
                )
                await audit.record(session, me.id, "custom_field.add", row.key, name=row.name, kind=row.kind)
        except FieldError as exc:
            return await self._page(request, exc.reason, 400)
        return Redirect(path="/admin/custom-fields", status_code=303)

    @post("/{field_id:int}/delete", name="admin_custom_field_delete", status_code=303)
    async def delete(self, request: AnyRequest, field_id: FromPath[int]) -> Redirect:
        me = manager_of(request)
        async with transaction(ctx(request).factory) as session:
            gone = await session.get(CustomField, field_id)
            named = {"name": gone.name, "key": gone.key} if gone is not None else {}
            await delete_field(session, field_id)
            await audit.record(session, me.id, "custom_field.delete", str(field_id), **named)
        return Redirect(path="/admin/custom-fields", status_code=303)

    async def _page(self, request: AnyRequest, error: str | None, status: int = 200) -> Template:
        async with ctx(request).factory() as session:
            fields = await all_fields(session)
        return Template(
            "admin_custom_fields.html",
            context={
                "manager": manager_of(request),
                "fields": fields,
                "kinds": kind_labels(),
                "error": error,
            },
            status_code=status,
        )
