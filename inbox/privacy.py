"""Personal data on request (152-ФЗ / GDPR): export everything about a customer, erase it everywhere.

Which tables hold a customer's data is read from the SQLAlchemy metadata: every table with a foreign key to
``customer.id``, and every table reached from those through ``thread.id`` or ``message.id``. Each of them must
have a policy in ``POLICIES`` (a test fails otherwise), so a table added later cannot be forgotten.

Erase keeps a stub customer row (orders kept for accounting still point at it), anonymises those orders,
deletes identities, thread, messages, attachments (rows and files), outbox rows, labels, notifications, bot
state, merge log rows and tombstones merged into the customer; blanks the raw inbound payloads the customer
sent (their keys stay, so a provider's redelivery is still recognised as a duplicate); and the search indexes
follow the rows (PostgreSQL indexes the columns; SQLite's FTS5 tables are kept by triggers).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core import kinds
from inbox.core.files import resolve as resolve_file
from inbox.models import (
    Attachment,
    Base,
    Customer,
    Identity,
    InboundEvent,
    Message,
    Outbox,
    Thread,
    utcnow,
)
from inbox.models.orders import Order
from inbox.models.payments import Payment, Shipment

Erase = Literal["delete", "anonymise", "keep"]
ROOTS = ("customer", "thread", "message")
ERASED_NAME = "—"


@dataclass(frozen=True, slots=True)
class Policy:
    export: bool  # its rows go into the export
    erase: Erase  # delete the rows, anonymise them (kept for accounting), or keep (no personal data)
    why: str = ""


# Every per-customer table (see ``per_customer_tables``) and what happens to it. Order matters for erase:
# children before parents.
POLICIES: dict[str, Policy] = {
    "attachment": Policy(True, "delete", "files are deleted from the data directory too"),
    "outbox": Policy(False, "delete", "pending sends of erased messages must not go out"),
    "notification": Policy(False, "delete", "managers' notifications about the thread"),
    "sales_task": Policy(True, "delete", "managers' tasks about the customer"),
    "segment_member": Policy(True, "delete", "membership of static segments"),
    "broadcast_recipient": Policy(True, "delete", "which broadcasts reached the customer"),
    "trigger_fire": Policy(True, "delete", "which automation rules acted for the customer"),
    "cart": Policy(True, "delete", "unfinished carts"),
    "widget_visitor": Policy(True, "delete", "website widget visitors (browser sessions) of the customer"),
    "thread_label": Policy(True, "delete"),
    "customer_label": Policy(True, "delete"),
    "bot_state": Policy(True, "delete"),
    "customer_consent": Policy(True, "delete", "marketing consent history goes with the person"),
    "order_line": Policy(True, "keep", "goods and prices, kept with the order"),
    "order_history": Policy(True, "keep", "status changes, kept with the order"),
    "notification_sent": Policy(False, "keep", "which status notices went out; no personal data"),
    "tracking_event": Policy(True, "keep", "parcel statuses and cities, kept with the order"),
    "shipment": Policy(True, "anonymise", "kept with the order; the track number and the label PDF go"),
    "refund": Policy(True, "keep", "amounts and provider ids, kept with the order for accounting"),
    "payment": Policy(True, "anonymise", "kept for accounting; the provider's answer (receipt contact) goes"),
    "orders": Policy(True, "anonymise", "kept for accounting: address, comment and tracking are blanked"),
    "message": Policy(True, "delete"),
    "merge_log": Policy(True, "delete", "merge and split history holds the merged customers' fields"),
    "identity": Policy(True, "delete", "a later message from the same account becomes a new customer"),
    "thread": Policy(True, "delete"),
    "customer": Policy(True, "anonymise", "a stub stays for the kept orders; tombstones are erased too"),
}


def _references(table: Table, targets: Iterable[str]) -> list[str]:
    wanted = set(targets)
    return [c.name for c in table.columns if any(fk.column.table.name in wanted for fk in c.foreign_keys)]


def per_customer_tables() -> dict[str, list[str]]:
    """Table name -> its columns that point at customer / thread / message (the customer table itself maps
    to ``["id", "merged_into_id"]``). Tables reached through orders are listed with their order column."""
    kinds.all_kinds()  # channel packages own tables too (widget visitors): loading the registry declares them
    out: dict[str, list[str]] = {"customer": ["id", "merged_into_id"]}
    for table in Base.metadata.sorted_tables:
        if table.name == "customer":
            continue
        cols = _references(table, ROOTS)
        if cols:
            out[table.name] = cols
    for table in Base.metadata.sorted_tables:  # children of per-customer tables that hold them (orders)
        if table.name in out:
            continue
        cols = _references(table, ["orders"])
        if cols:
            out[table.name] = cols
    return out


def unhandled_tables() -> list[str]:
    return sorted(set(per_customer_tables()) - set(POLICIES))


@dataclass
class Scope:
    """The ids that make up one customer: the customer, tombstones merged into it, threads, messages."""

    customer_ids: set[int]
    thread_ids: set[int]
    message_ids: set[int]
    order_ids: set[int]
    identities: list[tuple[int, str]] = field(default_factory=list)  # (account_id, external_id)
    contacts: set[str] = field(default_factory=set)  # phone, email


class NotFound(LookupError):
    pass


async def scope_of(session: AsyncSession, customer_id: int) -> Scope:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    ids = {customer_id}
    frontier = {customer_id}
    while frontier:  # tombstones merged into this customer (possibly chains)
        found = set(
            (
                await session.execute(select(Customer.id).where(Customer.merged_into_id.in_(frontier)))
            ).scalars()
        )
        frontier = found - ids
        ids |= found
    threads = set((await session.execute(select(Thread.id).where(Thread.customer_id.in_(ids)))).scalars())
    messages = set(
        (
            await session.execute(
                select(Message.id).where(or_(Message.customer_id.in_(ids), Message.thread_id.in_(threads)))
            )
        ).scalars()
    )
    orders = set((await session.execute(select(Order.id).where(Order.customer_id.in_(ids)))).scalars())
    identities = [
        (a, e)
        for a, e in (
            await session.execute(
                select(Identity.account_id, Identity.external_id).where(Identity.customer_id.in_(ids))
            )
        ).all()
    ]
    contacts: set[str] = set()
    for row in (
        await session.execute(select(Customer.phone, Customer.email).where(Customer.id.in_(ids)))
    ).all():
        contacts |= {v for v in row if v}
    return Scope(ids, threads, messages, orders, identities, contacts)


def _ids_for(scope: Scope, table: Table, cols: list[str]) -> list[Any]:
    """WHERE conditions selecting a table's rows that belong to the scope."""
    conds = []
    for col in cols:
        column = table.c[col]
        target = next(iter(column.foreign_keys)).column.table.name if column.foreign_keys else "customer"
        ids = {
            "customer": scope.customer_ids,
            "thread": scope.thread_ids,
            "message": scope.message_ids,
            "orders": scope.order_ids,
        }[target]
        conds.append(column.in_(ids))
    return conds


def _scalars(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value).lower()


async def raw_events_of(session: AsyncSession, scope: Scope, batch: int = 1000) -> list[InboundEvent]:
    """Raw inbound payloads that came from this customer: any value in the payload equals one of their
    identities' external ids (on that account), or their phone or email."""
    by_account: dict[int, set[str]] = {}
    for account_id, external in scope.identities:
        by_account.setdefault(account_id, set()).add(external.lower())
    contacts = {c.lower() for c in scope.contacts} | {c.lstrip("+") for c in scope.contacts}
    found: list[InboundEvent] = []
    last = 0
    while True:
        rows = list(
            (
                await session.execute(
                    select(InboundEvent).where(InboundEvent.id > last).order_by(InboundEvent.id).limit(batch)
                )
            ).scalars()
        )
        if not rows:
            return found
        for row in rows:
            keys = by_account.get(row.account_id, set()) | contacts
            if keys and not keys.isdisjoint(_scalars(row.payload)):
                found.append(row)
        last = rows[-1].id


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass
class ExportResult:
    path: Path
    tables: dict[str, int]
    files: int


async def export_customer(
    session: AsyncSession, customer_id: int, out_dir: Path, data_dir: Path
) -> ExportResult:
    """Write ``customer-<id>.json`` (every per-customer row and the raw payloads) and the attachment files
    under ``attachments/`` into ``out_dir``."""
    scope = await scope_of(session, customer_id)
    tables = per_customer_tables()
    doc: dict[str, Any] = {"customer_id": customer_id, "exported_at": utcnow().isoformat(), "tables": {}}
    counts: dict[str, int] = {}
    for name, cols in tables.items():
        policy = POLICIES.get(name)
        if policy is None or not policy.export:
            continue
        table = Base.metadata.tables[name]
        rows = (
            (await session.execute(select(table).where(or_(*_ids_for(scope, table, cols))))).mappings().all()
        )
        doc["tables"][name] = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
        counts[name] = len(rows)
    raw = await raw_events_of(session, scope)
    doc["raw_inbound"] = [
        {"id": r.id, "key": r.key, "received_at": _jsonable(r.received_at), "payload": r.payload} for r in raw
    ]
    counts["raw_inbound"] = len(raw)
    attachments = [
        (a.id, a.filename, a.path)
        for a in (
            await session.execute(select(Attachment).where(Attachment.message_id.in_(scope.message_ids)))
        ).scalars()
    ]
    path, files = await asyncio.to_thread(_write_export, doc, customer_id, attachments, out_dir, data_dir)
    return ExportResult(path=path, tables=counts, files=files)


def _write_export(
    doc: dict[str, Any],
    customer_id: int,
    attachments: list[tuple[int, str, str | None]],
    out_dir: Path,
    data_dir: Path,
) -> tuple[Path, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = 0
    for att_id, filename, rel in attachments:
        if not rel:
            continue
        source = resolve_file(data_dir, rel)
        if source.is_file():
            target = out_dir / "attachments" / f"{att_id}-{Path(filename).name or 'file'}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            files += 1
    path = out_dir / f"customer-{customer_id}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path, files


@dataclass
class EraseResult:
    deleted: dict[str, int]
    anonymised: dict[str, int]
    files: int
    raw_payloads: int


async def erase_customer(session: AsyncSession, customer_id: int, data_dir: Path) -> EraseResult:
    """Erase a customer everywhere (in the caller's transaction; files go after the rows are gone)."""
    scope = await scope_of(session, customer_id)
    if unhandled := unhandled_tables():
        raise RuntimeError(f"no personal-data policy for tables: {', '.join(unhandled)}")
    tables = per_customer_tables()
    result = EraseResult(deleted={}, anonymised={}, files=0, raw_payloads=0)
    paths = [
        p
        for p in (
            await session.execute(select(Attachment.path).where(Attachment.message_id.in_(scope.message_ids)))
        ).scalars()
        if p
    ]
    # Raw payloads: blanked, keys kept (a redelivery stays a duplicate, and is not ingested again).
    for raw in await raw_events_of(session, scope):
        raw.payload = {"erased": True}
        raw.error = None
        if raw.processed_at is None:
            raw.processed_at = utcnow()
            raw.skipped = True
        result.raw_payloads += 1
    # Orders kept for accounting lose what identifies the person; they leave the erased thread.
    if scope.order_ids:
        done = await session.execute(
            update(Order)
            .where(Order.id.in_(scope.order_ids))
            .values(
                delivery_address=None,
                comment="",
                tracking_number=None,
                tracking_url=None,
                thread_id=None,
                customer_id=customer_id,
            )
        )
        result.anonymised["orders"] = int(getattr(done, "rowcount", 0) or 0)
        # Payments keep amounts and provider ids; the stored provider answers carry the receipt's contact.
        done = await session.execute(
            update(Payment).where(Payment.order_id.in_(scope.order_ids)).values(raw={}, confirmation_url=None)
        )
        result.anonymised["payment"] = int(getattr(done, "rowcount", 0) or 0)
        # Shipments keep their events; the number (it finds the parcel and its address) and the label go.
        shipments = list(
            (await session.execute(select(Shipment).where(Shipment.order_id.in_(scope.order_ids)))).scalars()
        )
        for shipment in shipments:
            if shipment.label_path:
                paths.append(shipment.label_path)
            shipment.label_path = None
            shipment.track = f"erased-{shipment.id}"
            shipment.external_id = None
            shipment.active = False
        result.anonymised["shipment"] = len(shipments)
    # Messages that quote the erased ones by id elsewhere do not exist; delete children before parents.
    order = [n for n in POLICIES if n in tables]
    for name in order:
        policy = POLICIES[name]
        if policy.erase != "delete":
            continue
        table = Base.metadata.tables[name]
        done = await session.execute(delete(table).where(or_(*_ids_for(scope, table, tables[name]))))
        result.deleted[name] = int(getattr(done, "rowcount", 0) or 0)
    # Tombstones merged into the customer go; the customer itself stays as an anonymous stub.
    others = scope.customer_ids - {customer_id}
    if others:
        await session.execute(update(Customer).where(Customer.id.in_(others)).values(merged_into_id=None))
        kept = set(
            (await session.execute(select(Order.customer_id).where(Order.customer_id.in_(others)))).scalars()
        )
        gone = await session.execute(delete(Customer).where(Customer.id.in_(others - kept)))
        result.deleted["customer"] = int(getattr(gone, "rowcount", 0) or 0)
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(
            name=ERASED_NAME,
            phone=None,
            phone_verified=False,
            email=None,
            email_verified=False,
            locale=None,
            preferred_channel=None,
            merged_into_id=None,
            tags=[],
            fields={"erased_at": utcnow().isoformat()},
        )
    )
    result.anonymised["customer"] = 1
    # Pending shop webhooks that carry the customer's contacts.
    if scope.contacts:
        for row in (await session.execute(select(Outbox).where(Outbox.message_id.is_(None)))).scalars():
            if not {c.lower() for c in scope.contacts}.isdisjoint(_scalars(row.payload)) or any(
                c in json.dumps(row.payload, ensure_ascii=False) for c in scope.contacts
            ):
                await session.delete(row)
                result.deleted["outbox"] = result.deleted.get("outbox", 0) + 1
    await session.flush()
    for rel in paths:
        target = resolve_file(data_dir, rel)
        if target.is_file():
            target.unlink()
            result.files += 1
    return result


async def apply_retention(
    session: AsyncSession, data_dir: Path, *, attachments_days: int, raw_days: int
) -> tuple[int, int]:
    """Drop attachment files of messages older than ``attachments_days`` and raw payloads of processed
    inbound events older than ``raw_days`` (0 = keep). Returns (files removed, payloads blanked)."""
    files = payloads = 0
    now = utcnow()
    if attachments_days > 0:
        cutoff = now - timedelta(days=attachments_days)
        rows = (
            await session.execute(
                select(Attachment)
                .join(Message, Message.id == Attachment.message_id)
                .where(Message.created_at < cutoff, Attachment.path.is_not(None))
                .limit(5000)
            )
        ).scalars()
        for att in rows:
            target = resolve_file(data_dir, att.path or "")
            if target.is_file():
                target.unlink()
                files += 1
            att.path = None
    if raw_days > 0:
        cutoff = now - timedelta(days=raw_days)
        done = await session.execute(
            update(InboundEvent)
            .where(
                InboundEvent.received_at < cutoff,
                InboundEvent.processed_at.is_not(None),
                InboundEvent.error.is_(None),
            )
            .values(payload={"expired": True})
        )
        payloads = int(getattr(done, "rowcount", 0) or 0)
    await session.flush()
    return files, payloads
