"""One customer across every channel: duplicate suggestions, merging two customers, splitting an identity
back out, and the customer's explicit preferred channel.

Nothing here merges on its own: suggestions are shown to a manager, who merges. A merge moves identities,
messages (notes included); every other table that points at the customer or its thread is handled by its
policy in :mod:`inbox.core.merge_policy` (orders move, labels combine, the newer bot state stays);
the other customer becomes a tombstone (``merged_into_id``) and keeps its thread row, so old customer and
thread ids keep resolving to the survivor (:func:`live_thread`). Every merge and split is written to
``merge_log``.

Locking (PostgreSQL; SQLite transactions are serial anyway): identities first, then customers (by id),
then threads — the order in which :func:`inbox.core.customers.resolve` takes them, so an inbound message
being stored for one of the two customers either finishes before the merge moves things or waits and lands
on the survivor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import identities_of, live_customer, set_preferred_channel, thread_for
from inbox.core.events import Event, emit
from inbox.core.kinds import all_kinds, capabilities, kinds_with
from inbox.core.merge_policy import apply_policies
from inbox.core.phones import try_normalize_phone
from inbox.core.system_events import system_event
from inbox.core.types import Capabilities
from inbox.db import lowered
from inbox.i18n import _
from inbox.models import (
    Attachment,
    Base,
    Customer,
    Direction,
    Identity,
    MergeLog,
    Message,
    Thread,
    ThreadStatus,
    utcnow,
)

Side = Literal["survivor", "other"]
FIELDS: tuple[str, ...] = ("name", "phone", "email", "locale", "preferred_channel")
SIDES: tuple[str, ...] = ("survivor", "other")
PREVIEW_LEN = 140


# ---- errors ----------------------------------------------------------------------------------------------


class CustomerError(Exception):
    """Base of the errors below; ``reason`` is meant for the manager / API client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(CustomerError, LookupError):
    """No such customer / identity (HTTP 404)."""


class BadRequest(CustomerError, ValueError):
    """The request itself is wrong: merging into itself, unknown field or channel (HTTP 400)."""


class Refused(CustomerError):
    """The request conflicts with the current state: tombstones, the last identity (HTTP 409)."""


class UnresolvedConflicts(Refused):
    """Both customers have different values for these fields; say which side wins (HTTP 409)."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        names = ", ".join(c.field for c in conflicts)
        super().__init__(
            _("conflicting fields need a choice (survivor or other): {names}").format(names=names)
        )
        self.conflicts = conflicts


# ---- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    customer_id: int
    reason: str  # same_phone | same_email | same_name_phone_digits
    field: str  # phone | email | name


@dataclass(frozen=True, slots=True)
class Conflict:
    field: str
    survivor: str | None
    other: str | None
    chosen: Side | None = None


@dataclass(slots=True)
class MergeResult:
    survivor: Customer
    other_id: int
    thread_id: int
    other_thread_id: int | None
    conflicts: list[Conflict]
    moved: dict[str, int]
    log_id: int
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class SplitResult:
    customer: Customer  # the new customer
    thread_id: int
    from_customer_id: int
    moved: dict[str, int]
    log_id: int
    events: list[Event] = field(default_factory=list)


# ---- helpers ---------------------------------------------------------------------------------------------


def normalize_name(name: str | None) -> str:
    """Case, spacing and ё/е do not make two names different."""
    return " ".join((name or "").casefold().replace("ё", "е").split())


def phone_digits(phone: str | None) -> str:
    """The last ten digits: ``+7 916 …`` and ``8 916 …`` typed by hand compare equal."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-10:] if len(digits) >= 10 else ""


def _same(field_name: str, a: str | None, b: str | None) -> bool:
    if field_name == "name":
        return normalize_name(a) == normalize_name(b)
    if field_name == "email":
        return (a or "").lower() == (b or "").lower()
    return a == b


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    row = await session.get(Customer, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return row


async def _lock_customers(session: AsyncSession, ids: list[int]) -> dict[int, Customer]:
    await session.execute(
        select(Identity.id).where(Identity.customer_id.in_(ids)).order_by(Identity.id).with_for_update()
    )
    rows = await session.execute(
        select(Customer)
        .where(Customer.id.in_(ids))
        .order_by(Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in rows.scalars()}


async def _thread_of(session: AsyncSession, customer_id: int, lock: bool = True) -> Thread | None:
    query = select(Thread).where(Thread.customer_id == customer_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def live_thread(session: AsyncSession, thread_id: int) -> Thread | None:
    """The thread that now holds ``thread_id``'s conversation: itself, or — when its customer was merged —
    the surviving customer's thread. None when there is no such thread. Read paths (API, web) call this
    first, so links to a merged thread keep working."""
    thread = await session.get(Thread, thread_id)
    if thread is None:
        return None
    customer = await live_customer(session, thread.customer_id)
    if customer.id == thread.customer_id:
        return thread
    return await _thread_of(session, customer.id, lock=False) or thread


async def _preview(session: AsyncSession, message: Message) -> str:
    if message.text:
        return " ".join(message.text.split())[:PREVIEW_LEN]
    name = (
        await session.execute(
            select(Attachment.filename)
            .where(Attachment.message_id == message.id)
            .order_by(Attachment.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    return f"📎 {name}" if name else ""


async def recompute_thread(session: AsyncSession, thread: Thread) -> None:
    """Last activity, preview and last inbound channel from the messages the thread holds now."""
    latest = (
        await session.execute(
            select(Message)
            .where(Message.thread_id == thread.id, Message.direction.in_([Direction.IN, Direction.OUT]))
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if latest is not None:
        thread.last_message_at = latest.created_at
        thread.last_preview = await _preview(session, latest)
    else:
        thread.last_preview = ""
    inbound = (
        await session.execute(
            select(Message.created_at, Message.channel)
            .where(Message.thread_id == thread.id, Message.direction == Direction.IN)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).first()
    thread.last_inbound_at = inbound[0] if inbound else None
    thread.last_inbound_channel = inbound[1] if inbound else None


def _event_note(thread_id: int, customer_id: int, text: str, meta: dict[str, Any]) -> Message:
    rest = {k: v for k, v in meta.items() if k != "kind"}
    return system_event(thread_id=thread_id, customer_id=customer_id, kind=meta["kind"], text=text, meta=rest)


def _rowcount(result: object) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


# ---- suggestions -----------------------------------------------------------------------------------------


def is_phone(caps: Capabilities) -> bool:
    """An identity of this kind is a phone number (SMS): it vouches for the customer's phone."""
    return caps.address == "phone"


def is_email(caps: Capabilities) -> bool:
    """An identity of this kind is an email address: it vouches for the customer's email."""
    return caps.address == "email"


async def suggest_duplicates(session: AsyncSession, customer_id: int) -> list[Suggestion]:
    """Other live customers that are probably the same person: the same phone (E.164) or email — from the
    customer row or an SMS / email identity — or the same name and the same phone digits. Pairs a manager
    split apart are not suggested again. Never merges anything."""
    customer = await live_customer(session, customer_id)
    idents = (
        (await session.execute(select(Identity).where(Identity.customer_id == customer.id))).scalars().all()
    )
    phones = {customer.phone} if customer.phone else set()
    emails = {customer.email.lower()} if customer.email else set()
    phone_kinds, email_kinds = kinds_with(is_phone), kinds_with(is_email)
    for ident in idents:
        if ident.kind in phone_kinds and (p := try_normalize_phone(ident.external_id)):
            phones.add(p)
        elif ident.kind in email_kinds and "@" in ident.external_id:
            emails.add(ident.external_id.lower())

    split_apart: set[int] = set()
    for a, b in (
        await session.execute(
            select(MergeLog.survivor_id, MergeLog.other_id).where(
                MergeLog.action == "split",
                or_(MergeLog.survivor_id == customer.id, MergeLog.other_id == customer.id),
            )
        )
    ).all():
        split_apart.add(b if a == customer.id else a)

    found: dict[int, Suggestion] = {}

    async def add(ids: list[int], reason: str, field_name: str) -> None:
        for cid in ids:
            live = await live_customer(session, cid)
            if live.id != customer.id and live.id not in split_apart and live.id not in found:
                found[live.id] = Suggestion(live.id, reason, field_name)

    live_only = Customer.merged_into_id.is_(None)
    if phones:
        await add(
            list(
                (
                    await session.execute(select(Customer.id).where(Customer.phone.in_(phones), live_only))
                ).scalars()
            ),
            "same_phone",
            "phone",
        )
        await add(
            list(
                (
                    await session.execute(
                        select(Identity.customer_id).where(
                            Identity.kind.in_(phone_kinds), Identity.external_id.in_(phones)
                        )
                    )
                ).scalars()
            ),
            "same_phone",
            "phone",
        )
    if emails:
        await add(
            list(
                (
                    await session.execute(select(Customer.id).where(Customer.email.in_(emails), live_only))
                ).scalars()
            ),
            "same_email",
            "email",
        )
        await add(
            list(
                (
                    await session.execute(
                        select(Identity.customer_id).where(
                            Identity.kind.in_(email_kinds),
                            lowered(session, Identity.external_id).in_(emails),
                        )
                    )
                ).scalars()
            ),
            "same_email",
            "email",
        )
    name = normalize_name(customer.name)
    for digits in {phone_digits(p) for p in phones} - {""}:
        if not name:
            break
        rows = await session.execute(
            select(Customer.id, Customer.name).where(Customer.phone.like(f"%{digits}"), live_only)
        )
        await add(
            [cid for cid, n in rows.all() if normalize_name(n) == name], "same_name_phone_digits", "name"
        )
    if name and len(name.split()) >= 2:  # a full name: "Анна Смирнова" on VK and on Telegram
        rows = await session.execute(
            select(Customer.id, Customer.name)
            .where(Customer.name.in_(_case_variants(customer.name.strip())), live_only)
            .order_by(Customer.id)
            .limit(20)
        )
        await add([cid for cid, n in rows.all() if normalize_name(n) == name], "same_name", "name")
    return sorted(found.values(), key=lambda s: s.customer_id)


def _case_variants(text: str) -> set[str]:
    return {text, text.lower(), text.title(), text.capitalize(), text.upper()}


async def find_customers(session: AsyncSession, query: str, exclude: int, limit: int = 10) -> list[Customer]:
    """Live customers whose name, phone (any format) or email matches: the "merge with…" search."""
    text = query.strip()
    if len(text) < 2:
        return []
    phone = try_normalize_phone(text)
    needle = text.lower()
    cond = [
        lowered(session, Customer.name).contains(needle, autoescape=True),
        lowered(session, Customer.email).contains(needle, autoescape=True),
    ]
    if phone:
        cond.append(Customer.phone == phone)
    rows = await session.execute(
        select(Customer)
        .where(or_(*cond), Customer.merged_into_id.is_(None), Customer.id != exclude)
        .order_by(Customer.id)
        .limit(limit)
    )
    return list(rows.scalars())


# ---- merge -----------------------------------------------------------------------------------------------


def _conflicts(survivor: Customer, other: Customer) -> list[Conflict]:
    out = []
    for name in FIELDS:
        a, b = getattr(survivor, name), getattr(other, name)
        if a and b and not _same(name, a, b):
            out.append(Conflict(name, a, b))
    return out


def _check_choices(choices: dict[str, str] | None) -> dict[str, Side] | None:
    if choices is None:
        return None
    unknown = sorted(set(choices) - set(FIELDS))
    if unknown:
        raise BadRequest(f"unknown field(s) in choices: {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    for name, side in choices.items():
        if side not in SIDES:
            raise BadRequest(f"choice for {name} must be 'survivor' or 'other', not {side!r}")
    return cast(dict[str, Side], dict(choices))


def _take(survivor: Customer, other: Customer, name: str) -> None:
    setattr(survivor, name, getattr(other, name))
    if name in ("phone", "email"):
        flag = f"{name}_verified"
        setattr(survivor, flag, getattr(other, flag))


def _combine_fields(survivor: Customer, other: Customer, choices: dict[str, Side]) -> None:
    for name in FIELDS:
        a, b = getattr(survivor, name), getattr(other, name)
        if not b:
            continue
        if not a or choices.get(name) == "other":
            _take(survivor, other, name)
        elif name in ("phone", "email") and _same(name, a, b):
            flag = f"{name}_verified"
            setattr(survivor, flag, bool(getattr(survivor, flag) or getattr(other, flag)))
    survivor.tags = list(dict.fromkeys([*(survivor.tags or []), *(other.tags or [])]))
    survivor.fields = {**(other.fields or {}), **(survivor.fields or {})}
    survivor.birthday = survivor.birthday or other.birthday
    survivor.addresses = list(dict.fromkeys([*(survivor.addresses or []), *(other.addresses or [])]))
    survivor.updated_at = utcnow()


async def merge_customers(
    session: AsyncSession,
    survivor_id: int,
    other_id: int,
    choices: dict[str, str] | None,
    actor: str,
) -> MergeResult:
    """Merge ``other_id`` into ``survivor_id`` in the caller's transaction (``result.events`` are queued on
    the session and go out after commit). Fields both customers have with different values are conflicts:
    without ``choices`` covering every one of them the merge is refused with :class:`UnresolvedConflicts`
    and nothing changes."""
    if survivor_id == other_id:
        raise BadRequest(_("a customer cannot be merged into itself"))
    picked = _check_choices(choices)
    customers = await _lock_customers(session, sorted([survivor_id, other_id]))
    for cid in (survivor_id, other_id):
        if cid not in customers:
            raise NotFound(f"customer {cid} does not exist")
    survivor, other = customers[survivor_id], customers[other_id]
    if survivor.merged_into_id is not None:
        raise Refused(
            _("customer {id} was merged into customer {into}; merge into that one").format(
                id=survivor_id, into=survivor.merged_into_id
            )
        )
    if other.merged_into_id is not None:
        raise Refused(
            _("customer {id} is already merged into customer {into}").format(
                id=other_id, into=other.merged_into_id
            )
        )

    conflicts = _conflicts(survivor, other)
    missing = [c for c in conflicts if picked is None or c.field not in picked]
    if missing:
        raise UnresolvedConflicts(missing)
    picked = picked or {}
    decided = [Conflict(c.field, c.survivor, c.other, picked[c.field]) for c in conflicts]

    s_thread = await _thread_of(session, survivor.id) or await thread_for(session, survivor.id)
    o_thread = await _thread_of(session, other.id)
    moved: dict[str, int] = {}

    identity_ids = list(
        (await session.execute(select(Identity.id).where(Identity.customer_id == other.id))).scalars()
    )
    await session.execute(
        update(Identity).where(Identity.customer_id == other.id).values(customer_id=survivor.id)
    )
    moved["identities"] = len(identity_ids)
    where = Message.customer_id == other.id
    if o_thread is not None:
        where = or_(where, Message.thread_id == o_thread.id)
    result = await session.execute(
        update(Message).where(where).values(customer_id=survivor.id, thread_id=s_thread.id)
    )
    moved["messages"] = _rowcount(result)
    moved.update(
        await apply_policies(
            session, Base.metadata, (other.id, survivor.id), (o_thread.id if o_thread else None, s_thread.id)
        )
    )
    tomb = await session.execute(
        update(Customer).where(Customer.merged_into_id == other.id).values(merged_into_id=survivor.id)
    )
    if _rowcount(tomb):
        moved["tombstones"] = _rowcount(tomb)

    _combine_fields(survivor, other, picked)
    other.merged_into_id = survivor.id
    other.updated_at = utcnow()
    await session.flush()  # ORM bulk UPDATEs above keep loaded rows in step (synchronize_session)

    statuses = {s_thread.status, o_thread.status if o_thread else s_thread.status}
    if o_thread is not None:
        s_thread.unread_count += o_thread.unread_count
        s_thread.assignee_id = s_thread.assignee_id or o_thread.assignee_id
        o_thread.unread_count = 0
        o_thread.last_preview = ""
        o_thread.status = ThreadStatus.CLOSED
    for status in (ThreadStatus.OPEN, ThreadStatus.WAITING, ThreadStatus.CLOSED):
        if status in statuses:
            s_thread.status = status
            break
    session.add(
        _event_note(
            s_thread.id,
            survivor.id,
            f"Customer #{other.id} was merged into #{survivor.id}",
            {"kind": "merge", "survivor_id": survivor.id, "other_id": other.id, "by": actor},
        )
    )
    await session.flush()
    await recompute_thread(session, s_thread)
    log = MergeLog(
        action="merge",
        survivor_id=survivor.id,
        other_id=other.id,
        survivor_thread_id=s_thread.id,
        other_thread_id=o_thread.id if o_thread else None,
        identity_ids=identity_ids,
        moved=moved,
        conflicts={c.field: {"survivor": c.survivor, "other": c.other, "chosen": c.chosen} for c in decided},
        actor=actor[:200],
        created_at=utcnow(),
    )
    session.add(log)
    await session.flush()
    events = [
        Event(
            "customer.merged",
            thread_id=s_thread.id,
            customer_id=survivor.id,
            data={"other_id": other.id, "other_thread_id": o_thread.id if o_thread else None},
        ),
        Event("thread.updated", thread_id=s_thread.id, customer_id=survivor.id),
    ]
    emit(session, *events)
    return MergeResult(
        survivor=survivor,
        other_id=other.id,
        thread_id=s_thread.id,
        other_thread_id=o_thread.id if o_thread else None,
        conflicts=decided,
        moved=moved,
        log_id=log.id,
        events=events,
    )


async def merge_preview(session: AsyncSession, survivor_id: int, other_id: int) -> list[Conflict]:
    """The fields a merge of these two would ask about (for the merge page); changes nothing."""
    if survivor_id == other_id:
        raise BadRequest(_("a customer cannot be merged into itself"))
    survivor, other = await _customer(session, survivor_id), await _customer(session, other_id)
    for row in (survivor, other):
        if row.merged_into_id is not None:
            raise Refused(
                _("customer {id} is already merged into customer {into}").format(
                    id=row.id, into=row.merged_into_id
                )
            )
    return _conflicts(survivor, other)


# ---- split -----------------------------------------------------------------------------------------------


async def split_identity(
    session: AsyncSession, customer_id: int, identity_id: int, actor: str
) -> SplitResult:
    """Move one identity out of a customer into a new customer with its own thread; the messages that came
    or went through that identity move with it. The last identity of a customer cannot be split off."""
    identity = (
        await session.execute(
            select(Identity)
            .where(Identity.id == identity_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if identity is None:
        raise NotFound(f"identity {identity_id} does not exist")
    owner = await live_customer(session, customer_id) if await session.get(Customer, customer_id) else None
    if owner is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if identity.customer_id != owner.id:
        raise NotFound(f"identity {identity_id} does not belong to customer {customer_id}")
    owner = (await _lock_customers(session, [owner.id]))[owner.id]
    remaining = (
        await session.execute(
            select(func.count()).select_from(Identity).where(Identity.customer_id == owner.id)
        )
    ).scalar_one()
    if remaining <= 1:
        raise Refused(
            _("identity {id} is the only identity of customer {customer}; nothing to split").format(
                id=identity_id, customer=owner.id
            )
        )
    old_thread = await _thread_of(session, owner.id) or await thread_for(session, owner.id)

    new = Customer(
        name=(identity.display or "")[:200],
        locale=owner.locale,
        tags=[],
        fields={},
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    address = capabilities(identity.kind).address
    if address == "phone" and (phone := try_normalize_phone(identity.external_id)):
        new.phone, new.phone_verified = phone, True
    elif address == "email" and "@" in identity.external_id:
        new.email, new.email_verified = identity.external_id.lower(), True
    session.add(new)
    await session.flush()
    new_thread = await thread_for(session, new.id, old_thread.last_message_at)

    # Unread inbound messages of the old thread: the newest ``unread_count`` ones.
    unread_ids = set(
        (
            await session.execute(
                select(Message.id)
                .where(Message.thread_id == old_thread.id, Message.direction == Direction.IN)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(max(old_thread.unread_count, 0))
            )
        ).scalars()
    )
    moving = list(
        (
            await session.execute(
                select(Message.id).where(
                    Message.thread_id == old_thread.id, Message.identity_id == identity.id
                )
            )
        ).scalars()
    )
    identity.customer_id = new.id
    if moving:
        await session.execute(
            update(Message).where(Message.id.in_(moving)).values(customer_id=new.id, thread_id=new_thread.id)
        )
    moved_unread = len(unread_ids & set(moving))
    kinds_left = {
        k
        for k in (
            await session.execute(
                select(Identity.kind).where(Identity.customer_id == owner.id, Identity.id != identity.id)
            )
        ).scalars()
    }
    if owner.preferred_channel and owner.preferred_channel not in kinds_left:
        owner.preferred_channel = None
    owner.updated_at = utcnow()
    await session.flush()
    old_thread.unread_count = max(old_thread.unread_count - moved_unread, 0)
    new_thread.unread_count = moved_unread
    new_thread.status = ThreadStatus.OPEN if moved_unread else old_thread.status
    new_thread.assignee_id = old_thread.assignee_id
    label = f"{identity.kind}:{identity.external_id}"
    session.add(
        _event_note(
            old_thread.id,
            owner.id,
            f"Identity {label} was split off into customer #{new.id}",
            {"kind": "split", "identity_id": identity.id, "new_customer_id": new.id, "by": actor},
        )
    )
    session.add(
        _event_note(
            new_thread.id,
            new.id,
            f"Identity {label} was split off from customer #{owner.id}",
            {"kind": "split", "identity_id": identity.id, "from_customer_id": owner.id, "by": actor},
        )
    )
    await session.flush()
    await recompute_thread(session, old_thread)
    await recompute_thread(session, new_thread)
    moved = {"identities": 1, "messages": len(moving)}
    log = MergeLog(
        action="split",
        survivor_id=owner.id,
        other_id=new.id,
        survivor_thread_id=old_thread.id,
        other_thread_id=new_thread.id,
        identity_ids=[identity.id],
        moved=moved,
        conflicts={},
        actor=actor[:200],
        created_at=utcnow(),
    )
    session.add(log)
    await session.flush()
    events = [
        Event(
            "customer.split", thread_id=new_thread.id, customer_id=new.id, data={"from_customer_id": owner.id}
        ),
        Event("thread.updated", thread_id=old_thread.id, customer_id=owner.id),
        Event("thread.updated", thread_id=new_thread.id, customer_id=new.id),
    ]
    emit(session, *events)
    return SplitResult(
        customer=new,
        thread_id=new_thread.id,
        from_customer_id=owner.id,
        moved=moved,
        log_id=log.id,
        events=events,
    )


# ---- preferred channel -----------------------------------------------------------------------------------


async def choose_preferred_channel(session: AsyncSession, customer_id: int, channel: str | None) -> Customer:
    """Set (or with None clear) the customer's explicit preferred channel; it must be one of their
    channels."""
    if await session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    customer = await live_customer(session, customer_id)
    if channel is not None:
        known = [info.kind for info in all_kinds()]
        if channel not in known:
            raise BadRequest(
                _("unknown channel {channel}; one of: {known} or null").format(
                    channel=repr(channel), known=", ".join(known)
                )
            )
        kinds = sorted({i.kind for i in await identities_of(session, customer.id)})
        if channel not in kinds:
            raise BadRequest(
                _("customer {id} has no {channel} channel").format(id=customer.id, channel=channel)
                + (
                    " " + _("(has: {kinds})").format(kinds=", ".join(kinds))
                    if kinds
                    else " " + _("(no channels at all)")
                )
            )
    await set_preferred_channel(session, customer.id, channel)
    await session.refresh(customer)
    return customer


async def merge_history(session: AsyncSession, customer_id: int) -> list[MergeLog]:
    """Merges and splits this customer took part in, newest first (for the card and for audits)."""
    rows = await session.execute(
        select(MergeLog)
        .where(or_(MergeLog.survivor_id == customer_id, MergeLog.other_id == customer_id))
        .order_by(MergeLog.id.desc())
    )
    return list(rows.scalars())
