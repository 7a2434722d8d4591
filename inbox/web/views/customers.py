"""The customer card in the web inbox: identities with channel badges, verified contacts, suggested
duplicates with Merge, a merge page to decide conflicting fields, Split per identity, preferred channel.

Signed-in managers only: app.py mounts the controller on a router whose before_request is require_manager.
Buttons post with htmx (the CSRF header is set on <body>); every form also works as a plain form.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import identities_of, live_customer
from inbox.core.events import Event, emit
from inbox.core.merge import (
    FIELDS,
    BadRequest,
    Conflict,
    CustomerError,
    NotFound,
    UnresolvedConflicts,
    choose_preferred_channel,
    find_customers,
    merge_customers,
    merge_history,
    merge_preview,
    split_identity,
    suggest_duplicates,
)
from inbox.core.types import ChannelKind
from inbox.customer_card.card import card_data
from inbox.models import ChannelAccount, Customer, Identity, Thread
from inbox.sales import card as sales_card
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def field_labels() -> dict[str, str]:
    return {
        "name": i18n._("Name"),
        "phone": i18n._("Phone"),
        "email": i18n._("Email"),
        "locale": i18n._("Language"),
        "preferred_channel": i18n._("Preferred channel"),
    }


def reason_labels() -> dict[str, str]:
    return {
        "same_phone": i18n._("Same phone number"),
        "same_email": i18n._("Same email address"),
        "same_name_phone_digits": i18n._("Same name and phone digits"),
        "same_name": i18n._("Same name"),
    }


def _status(exc: CustomerError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, BadRequest):
        return 400
    return 409


async def card_context(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundException(i18n._("No such customer."))
    identities = await identities_of(session, customer.id)
    accounts = {a.id: a for a in (await session.execute(select(ChannelAccount))).scalars()}
    thread_id = (
        await session.execute(select(Thread.id).where(Thread.customer_id == customer.id))
    ).scalar_one_or_none()
    suggestions = await suggest_duplicates(session, customer.id)
    others = {
        c.id: c
        for c in (
            await session.execute(
                select(Customer).where(Customer.id.in_([s.customer_id for s in suggestions]))
            )
        ).scalars()
    }
    return {
        "customer": customer,
        "identities": identities,
        "accounts": accounts,
        "thread_id": thread_id,
        "channels": sorted({i.kind for i in identities}),
        "suggestions": [(s, others[s.customer_id]) for s in suggestions],
        "reasons": reason_labels(),
        "history": await merge_history(session, customer.id),
        "sales": await sales_card.card_context(session, customer.id),
        "card": await card_data(session, customer),
        "consent_channels": consent_channels(identities),
        "profile_errors": [],
        "source_labels": source_labels(),
        "error": None,
    }


def source_labels() -> dict[str, str]:
    return {
        "manager": i18n._("manager"),
        "api": i18n._("shop system (API)"),
        "customer": i18n._("the customer"),
        "import": i18n._("import"),
        "bot": i18n._("bot"),
        "widget": i18n._("site widget"),
    }


def consent_channels(identities: list[Identity]) -> list[str]:
    """The customer's own channels first, then the rest: consent can be recorded for any channel."""
    own = sorted({i.kind for i in identities})
    return own + [k.value for k in ChannelKind if k.value not in own]


class CustomersController(Controller):
    @get("/customers/{customer_id:int}", name="customer_card")
    async def card(self, request: AnyRequest, customer_id: FromPath[int]) -> Template | Redirect:
        async with ctx(request).factory() as session:
            if await session.get(Customer, customer_id) is None:
                raise NotFoundException(i18n._("No such customer."))
            live = await live_customer(session, customer_id)
            if live.id != customer_id:  # a merged customer's card is the survivor's card
                return Redirect(path=f"/customers/{live.id}", status_code=303)
            data = await card_context(session, customer_id)
        data["manager"] = manager_of(request)
        if request.headers.get("hx-request"):
            return Template("_customer_card.html", context=data)
        return Template("customer.html", context=data)

    @get("/customers/{customer_id:int}/merge-candidates", name="customer_merge_candidates")
    async def merge_candidates(
        self, request: AnyRequest, customer_id: FromPath[int], q: FromQuery[str] = ""
    ) -> Template:
        async with ctx(request).factory() as session:
            found = await find_customers(session, q, exclude=customer_id)
        return Template(
            "_merge_candidates.html", context={"found": found, "customer_id": customer_id, "q": q}
        )

    @get("/customers/{customer_id:int}/merge", name="customer_merge_page")
    async def merge_page(
        self, request: AnyRequest, customer_id: FromPath[int], other: FromQuery[int]
    ) -> Template:
        async with ctx(request).factory() as session:
            try:
                conflicts = await merge_preview(session, customer_id, other)
            except CustomerError as exc:
                raise ClientException(exc.reason, status_code=_status(exc)) from exc
            data = await self._merge_context(session, customer_id, other, conflicts)
        data["manager"] = manager_of(request)
        return Template("customer_merge.html", context=data)

    @post("/customers/{customer_id:int}/merge", name="customer_merge", status_code=303)
    async def merge(
        self, request: AnyRequest, customer_id: FromPath[int], data: Form
    ) -> Template | Redirect | Response[str]:
        app = ctx(request)
        manager = manager_of(request)
        try:
            other_id = int(data.get("other_id", ""))
        except ValueError:
            raise ClientException(i18n._("Choose the customer to merge.")) from None
        choices = {f: data[f"choice_{f}"] for f in FIELDS if data.get(f"choice_{f}")}
        try:
            async with app.bus.transaction(app.factory) as session:
                await merge_customers(session, customer_id, other_id, choices, actor=f"manager:{manager.id}")
        except CustomerError as exc:
            async with app.factory() as session:
                try:
                    conflicts = await merge_preview(session, customer_id, other_id)
                except CustomerError:
                    raise ClientException(exc.reason, status_code=_status(exc)) from exc
                ctx_data = await self._merge_context(session, customer_id, other_id, conflicts)
            ctx_data["manager"] = manager
            ctx_data["error"] = (
                i18n._("Choose which value to keep for every conflicting field.")
                if isinstance(exc, UnresolvedConflicts)
                else exc.reason
            )
            return Template("customer_merge.html", context=ctx_data, status_code=_status(exc))
        return _go(request, f"/customers/{customer_id}")

    @post("/customers/{customer_id:int}/split", name="customer_split", status_code=303)
    async def split(
        self, request: AnyRequest, customer_id: FromPath[int], data: Form
    ) -> Template | Redirect | Response[str]:
        app = ctx(request)
        manager = manager_of(request)
        try:
            identity_id = int(data.get("identity_id", ""))
        except ValueError:
            raise ClientException(i18n._("Choose the identity to split off.")) from None
        try:
            async with app.bus.transaction(app.factory) as session:
                result = await split_identity(
                    session, customer_id, identity_id, actor=f"manager:{manager.id}"
                )
        except CustomerError as exc:
            return await self._card_error(request, customer_id, exc)
        return _go(request, f"/customers/{result.customer.id}")

    @post(
        "/customers/{customer_id:int}/preferred-channel", name="customer_preferred_channel", status_code=303
    )
    async def preferred_channel(
        self, request: AnyRequest, customer_id: FromPath[int], data: Form
    ) -> Template | Redirect | Response[str]:
        app = ctx(request)
        channel = data.get("channel") or None
        try:
            async with app.bus.transaction(app.factory) as session:
                customer = await choose_preferred_channel(session, customer_id, channel)
                changed = {"preferred_channel": channel}
                emit(session, Event("customer.updated", customer_id=customer.id, data=changed))
        except CustomerError as exc:
            return await self._card_error(request, customer_id, exc)
        if request.headers.get("hx-request"):
            async with app.factory() as session:
                card = await card_context(session, customer.id)
            card["manager"] = manager_of(request)
            return Template("_customer_card.html", context=card)
        return Redirect(path=f"/customers/{customer.id}", status_code=303)

    async def _card_error(self, request: AnyRequest, customer_id: int, exc: CustomerError) -> Template:
        async with ctx(request).factory() as session:
            if await session.get(Customer, customer_id) is None:
                raise NotFoundException(exc.reason) from exc
            data = await card_context(session, customer_id)
        data["manager"] = manager_of(request)
        data["error"] = exc.reason
        name = "_customer_card.html" if request.headers.get("hx-request") else "customer.html"
        headers = {"HX-Reswap": "outerHTML", "HX-Retarget": "#customer-card"}
        return Template(name, context=data, status_code=_status(exc), headers=headers)

    async def _merge_context(
        self, session: AsyncSession, survivor_id: int, other_id: int, conflicts: list[Conflict]
    ) -> dict[str, Any]:
        survivor = await session.get(Customer, survivor_id)
        other = await session.get(Customer, other_id)
        if survivor is None or other is None:
            raise NotFoundException(i18n._("No such customer."))
        return {
            "survivor": survivor,
            "other": other,
            "conflicts": conflicts,
            "labels": field_labels(),
            "other_identities": await identities_of(session, other.id),
            "error": None,
        }


def _go(request: AnyRequest, path: str) -> Redirect | Response[str]:
    """After a successful POST: htmx navigates with HX-Redirect, a plain form follows a 303."""
    if request.headers.get("hx-request"):
        return Response(content="", status_code=200, headers={"HX-Redirect": path})
    return Redirect(path=path, status_code=303)
