"""REST API for one customer across channels: merge, split, duplicate suggestions, preferred channel.

The controller has no path prefix: app.py mounts it on the /api/v1 router (bearer tokens, require_token).
Errors answer with Litestar's JSON error body; ``detail`` carries the reason, and a 409 for unresolved
conflicts lists them under ``extra.conflicts``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from inbox.core.customers import live_customer
from inbox.core.events import Event, emit
from inbox.core.merge import (
    BadRequest,
    CustomerError,
    NotFound,
    UnresolvedConflicts,
    choose_preferred_channel,
    merge_customers,
    split_identity,
    suggest_duplicates,
)
from inbox.customer_card.consent import ConsentError, record_consent
from inbox.models import Customer
from inbox.web.state import ctx
from inbox.web.views.customer_schema import CustomerOut, customer_out

AnyRequest = Request[Any, Any, Any]


class MergeIn(msgspec.Struct, forbid_unknown_fields=True):
    other_id: int
    # field -> "survivor" | "other"; fields: name, phone, email, locale, preferred_channel
    choices: dict[str, str] | None = None


class SplitIn(msgspec.Struct, forbid_unknown_fields=True):
    identity_id: int


class PreferredChannelIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: str | None  # telegram | vk | email | sms | null (automatic: the last inbound channel)


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: str  # telegram | vk | email | sms | …
    marketing: bool
    source: str = "api"  # how the shop learned it: api, customer, import, manager, …


class ConflictOut(msgspec.Struct):
    field: str
    survivor: str | None
    other: str | None
    chosen: str | None


class MergeOut(msgspec.Struct):
    customer: CustomerOut
    other_id: int
    conflicts: list[ConflictOut]
    moved: dict[str, int]
    merge_id: int


class SuggestionOut(msgspec.Struct):
    customer_id: int
    reason: str  # same_phone | same_email | same_name_phone_digits
    field: str
    name: str
    phone: str | None
    email: str | None


class SuggestionPage(msgspec.Struct):
    items: list[SuggestionOut]
    next: str | None


def http_error(exc: CustomerError) -> ClientException:
    """Domain errors -> 404 / 400 / 409 with the reason."""
    if isinstance(exc, NotFound):
        return NotFoundException(exc.reason)
    if isinstance(exc, BadRequest):
        return ClientException(exc.reason, status_code=400)
    extra: dict[str, Any] | None = None
    if isinstance(exc, UnresolvedConflicts):
        extra = {
            "conflicts": [{"field": c.field, "survivor": c.survivor, "other": c.other} for c in exc.conflicts]
        }
    return ClientException(exc.reason, status_code=409, extra=extra)


class CustomersApi(Controller):
    """Mounted under /api/v1 behind require_token."""

    tags = ["customers"]

    @post("/customers/{customer_id:int}/merge", name="api_customer_merge", status_code=200)
    async def merge(
        self, request: AnyRequest, customer_id: FromPath[int], data: JSONBody[MergeIn]
    ) -> MergeOut:
        """Merge ``other_id`` into this customer. 409 lists conflicting fields when ``choices`` does not
        decide every one of them; the other customer becomes a tombstone whose ids keep working."""
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                result = await merge_customers(session, customer_id, data.other_id, data.choices, actor="api")
                out = await customer_out(session, result.survivor)
        except CustomerError as exc:
            raise http_error(exc) from exc
        return MergeOut(
            customer=out,
            other_id=result.other_id,
            conflicts=[ConflictOut(c.field, c.survivor, c.other, c.chosen) for c in result.conflicts],
            moved=result.moved,
            merge_id=result.log_id,
        )

    @post("/customers/{customer_id:int}/split", name="api_customer_split", status_code=201)
    async def split(
        self, request: AnyRequest, customer_id: FromPath[int], data: JSONBody[SplitIn]
    ) -> CustomerOut:
        """Move one identity (and the messages that came through it) out into a new customer."""
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                result = await split_identity(session, customer_id, data.identity_id, actor="api")
                out = await customer_out(session, result.customer)
        except CustomerError as exc:
            raise http_error(exc) from exc
        return out

    @get("/customers/{customer_id:int}/suggestions", name="api_customer_suggestions")
    async def suggestions(self, request: AnyRequest, customer_id: FromPath[int]) -> SuggestionPage:
        """Customers that are probably the same person (never merged automatically)."""
        async with ctx(request).factory() as session:
            if await session.get(Customer, customer_id) is None:
                raise NotFoundException(f"customer {customer_id} does not exist")
            found = await suggest_duplicates(session, customer_id)
            rows = {
                c.id: c
                for c in (
                    await session.execute(
                        select(Customer).where(Customer.id.in_([s.customer_id for s in found]))
                    )
                ).scalars()
            }
        return SuggestionPage(
            items=[
                SuggestionOut(
                    s.customer_id,
                    s.reason,
                    s.field,
                    rows[s.customer_id].name,
                    rows[s.customer_id].phone,
                    rows[s.customer_id].email,
                )
                for s in found
            ],
            next=None,
        )

    @put("/customers/{customer_id:int}/preferred-channel", name="api_customer_preferred_channel")
    async def preferred_channel(
        self, request: AnyRequest, customer_id: FromPath[int], data: JSONBody[PreferredChannelIn]
    ) -> CustomerOut:
        """The channel to answer on by default; null goes back to the last inbound channel."""
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                customer = await choose_preferred_channel(session, customer_id, data.channel)
                out = await customer_out(session, customer)
                changed = {"preferred_channel": out.preferred_channel}
                emit(session, Event("customer.updated", customer_id=out.id, data=changed))
        except CustomerError as exc:
            raise http_error(exc) from exc
        return out

    @put("/customers/{customer_id:int}/consent", name="api_customer_consent")
    async def consent(
        self, request: AnyRequest, customer_id: FromPath[int], data: JSONBody[ConsentIn]
    ) -> CustomerOut:
        """Record a marketing consent decision on one channel; the history is kept and the newest record per
        channel is the state (``consent`` in the answer)."""
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                row = await record_consent(session, customer_id, data.channel, data.marketing, data.source)
                out = await customer_out(session, await live_customer(session, row.customer_id), customer_id)
                emit(session, Event("customer.updated", customer_id=row.customer_id, data={"consent": True}))
        except ConsentError as exc:
            raise ClientException(exc.reason, status_code=422) from exc
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        return out
