"""What a customer merge does with every row that belongs to a customer or to its thread.

The tables are discovered from the SQLAlchemy metadata (every foreign key to ``customer.id`` or ``thread.id``)
and each one has a policy here:

- ``core``: moved by :mod:`inbox.core.merge` (identities, messages, threads, the customer row, the log);
- ``move``: every row of the other customer is re-pointed to the survivor (orders, consent history);
- ``combine``: link rows keyed by (customer or thread, something): the survivor gets the union, duplicates
  are dropped (labels);
- ``keep_newest``: one row per customer: the newer row (by ``newest``) stays and becomes the survivor's,
  the other is deleted; ``carry`` copies what must not be lost from the dropped row (a bot cart, a
  hand-off).

A table with a customer or thread foreign key and no policy makes :func:`unhandled` non-empty, and a test
fails: a later table cannot be forgotten by merge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import MetaData, Table, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core import kinds

OWNERS = ("customer", "thread")


class Policy(StrEnum):
    CORE = "core"
    MOVE = "move"
    COMBINE = "combine"
    KEEP_NEWEST = "keep_newest"


Carry = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


def _carry_bot_state(kept: Mapping[str, Any], dropped: Mapping[str, Any]) -> dict[str, Any]:
    """The kept bot state takes the dropped one's cart when it has none, and stays handed off when either
    was: a manager is already talking to this person."""
    data = dict(kept["data"] or {})
    other = dict(dropped["data"] or {})
    if not data.get("cart") and other.get("cart"):
        data["cart"] = other["cart"]
    values: dict[str, Any] = {"data": data, "version": int(kept["version"] or 0) + 1}
    if dropped["handoff"] and not kept["handoff"]:
        values.update(
            handoff=True, handoff_at=dropped["handoff_at"], handoff_reason=dropped["handoff_reason"]
        )
    return values


@dataclass(frozen=True, slots=True)
class TablePolicy:
    policy: Policy
    newest: str | None = None  # keep_newest: the column that says which row is newer
    carry: Carry | None = None  # keep_newest: values for the kept row from both rows
    keys: tuple[str, ...] | None = None  # combine: what makes two rows the same (default: the primary key)


POLICIES: dict[str, TablePolicy] = {
    "customer": TablePolicy(Policy.CORE),  # merged_into_id: tombstones re-pointed by merge
    "identity": TablePolicy(Policy.CORE),
    "message": TablePolicy(Policy.CORE),
    "thread": TablePolicy(Policy.CORE),
    "merge_log": TablePolicy(Policy.CORE),  # history: stays as written
    "orders": TablePolicy(Policy.MOVE),
    "notification": TablePolicy(Policy.MOVE),
    "customer_consent": TablePolicy(Policy.MOVE),  # history; the newest record per channel is the state
    "customer_label": TablePolicy(Policy.COMBINE),
    "thread_label": TablePolicy(Policy.COMBINE),
    "bot_state": TablePolicy(Policy.KEEP_NEWEST, newest="updated_at", carry=_carry_bot_state),
    # repeat sales (inbox.sales): tasks and carts follow the customer; one recipient row per broadcast and
    # one firing per (rule, event) stay one, so nobody is messaged twice after a merge either
    "sales_task": TablePolicy(Policy.MOVE),
    "cart": TablePolicy(Policy.MOVE),
    "segment_member": TablePolicy(Policy.COMBINE),
    "widget_visitor": TablePolicy(Policy.MOVE),  # website widget visitors follow their customer
    "broadcast_recipient": TablePolicy(Policy.COMBINE, keys=("broadcast_id",)),
    "trigger_fire": TablePolicy(Policy.COMBINE, keys=("rule_id", "event_key")),
}


def references(table: Table, target: str) -> list[str]:
    """Columns of ``table`` with a foreign key to ``target``'s table."""
    return [
        col.name for col in table.columns if any(fk.column.table.name == target for fk in col.foreign_keys)
    ]


def per_customer_tables(metadata: MetaData) -> dict[str, dict[str, list[str]]]:
    """Every table pointing at a customer or a thread: {table: {"customer": [cols], "thread": [cols]}}."""
    found: dict[str, dict[str, list[str]]] = {}
    for table in metadata.sorted_tables:
        refs = {owner: references(table, owner) for owner in OWNERS}
        if any(refs.values()):
            found[table.name] = refs
    return found


def unhandled(metadata: MetaData) -> list[str]:
    """Tables with a customer / thread foreign key that no policy covers (must stay empty)."""
    return sorted(set(per_customer_tables(metadata)) - set(POLICIES))


async def _move(session: AsyncSession, table: Table, col: str, old: int, new: int) -> int:
    result = await session.execute(table.update().where(table.c[col] == old).values({col: new}))
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def _combine(
    session: AsyncSession, table: Table, col: str, old: int, new: int, names: tuple[str, ...] | None = None
) -> int:
    keys = [table.c[n] for n in names] if names else [c for c in table.primary_key.columns if c.name != col]
    twin = table.alias("twin")
    duplicate = exists().where(twin.c[col] == new, *[twin.c[k.name] == k for k in keys])
    result = await session.execute(
        table.update().where(and_(table.c[col] == old, ~duplicate)).values({col: new})
    )
    await session.execute(table.delete().where(table.c[col] == old))
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def _keep_newest(
    session: AsyncSession, table: Table, col: str, old: int, new: int, rule: TablePolicy
) -> int:
    rows = {
        row[col]: row
        for row in (await session.execute(select(table).where(table.c[col].in_([old, new])))).mappings()
    }
    if old not in rows:
        return 0
    if new not in rows:
        return await _move(session, table, col, old, new)
    assert rule.newest is not None
    a, b = rows[old][rule.newest], rows[new][rule.newest]
    newer_is_old = a is not None and (b is None or a > b)
    kept, dropped = (rows[old], rows[new]) if newer_is_old else (rows[new], rows[old])
    values = rule.carry(dict(kept), dict(dropped)) if rule.carry else {}
    await session.execute(table.delete().where(table.c[col] == dropped[col]))
    await session.execute(table.update().where(table.c[col] == kept[col]).values({**values, col: new}))
    return 1


async def apply_policies(
    session: AsyncSession,
    metadata: MetaData,
    customers: tuple[int, int],
    threads: tuple[int | None, int],
) -> dict[str, int]:
    """Re-point every non-core row of the other customer (``customers[0]``) and its thread
    (``threads[0]``) to the survivor (``customers[1]``, ``threads[1]``) by each table's policy; returns
    the rows taken over per table. Raises LookupError for a table without a policy."""
    kinds.all_kinds()  # channel packages own tables too (widget visitors): loading the registry declares them
    missing = unhandled(metadata)
    if missing:
        raise LookupError(f"no merge policy for table(s): {', '.join(missing)}")
    moved: dict[str, int] = {}
    for name, refs in per_customer_tables(metadata).items():
        rule = POLICIES[name]
        if rule.policy is Policy.CORE:
            continue
        table = metadata.tables[name]
        count = 0
        for owner, (old, new) in (("customer", customers), ("thread", threads)):
            if old is None:
                continue
            for col in refs[owner]:
                if rule.policy is Policy.MOVE:
                    n = await _move(session, table, col, old, new)
                elif rule.policy is Policy.COMBINE:
                    n = await _combine(session, table, col, old, new, rule.keys)
                else:
                    n = await _keep_newest(session, table, col, old, new, rule)
                count = max(count, n)
        if count:
            moved[name] = count
    return moved
