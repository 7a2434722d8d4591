"""The configurable order status machine: statuses in the ``order_status`` table, TOML in and out.

A status has a code, a group (new / approval / assembling / delivery / complete / cancel), names per locale,
the codes it may move to, an optional time limit (minutes; past it the order is overdue) with an optional
automatic target, and customer notification templates per locale and channel kind (messenger / sms /
email, plus ``email_subject``). Placeholders: {order.number}, {order.total}, {order.tracking_url},
{order.status}, {customer.name}.

Entering a "cancel" group status releases the order's reservations; entering a "complete" group status
writes the reserved stock off. The first status (by position) of group "new" is where submit puts a draft.

TOML layout (``dump_toml`` writes it, ``parse_toml`` reads it with tomllib)::

    [[status]]
    code = "new"
    group = "new"
    transitions = ["confirmed", "cancelled"]
    time_limit_minutes = 60
    notify_customer = true
    [status.names]
    ru = "Новый"
    [status.templates.ru]
    messenger = "Заказ {order.number} принят"
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import DRAFT, Carrier, Counter, Order, OrderStatus, Warehouse
from inbox.orders import defaults
from inbox.orders.errors import StatusConfigError
from inbox.orders.sql import insert_ignore

PLACEHOLDERS = frozenset(
    {"order.number", "order.total", "order.tracking_url", "order.status", "customer.name"}
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TEMPLATE_KEYS = frozenset({*defaults.CHANNEL_KINDS, "email_subject"})


@dataclass(slots=True)
class StatusDef:
    code: str
    group: str
    names: dict[str, str] = field(default_factory=dict)
    transitions: list[str] = field(default_factory=list)
    time_limit_minutes: int | None = None
    auto_target: str | None = None
    notify_customer: bool = False
    templates: dict[str, dict[str, str]] = field(default_factory=dict)
    on_paid: str | None = None  # where a paid order in this status moves (a transition of it)

    @classmethod
    def from_row(cls, row: OrderStatus) -> StatusDef:
        return cls(
            code=row.code,
            group=row.group,
            names=dict(row.names),
            transitions=list(row.transitions),
            time_limit_minutes=row.time_limit_minutes,
            auto_target=row.auto_target,
            notify_customer=row.notify_customer,
            templates={k: dict(v) for k, v in row.templates.items()},
            on_paid=row.on_paid,
        )


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise StatusConfigError(f"{where}: {key} must be a non-empty string")
    return value


def def_from_mapping(data: dict[str, Any], where: str = "status") -> StatusDef:
    """One status from a parsed TOML/JSON table; type errors raise StatusConfigError."""
    unknown = set(data) - {
        "code",
        "group",
        "names",
        "transitions",
        "time_limit_minutes",
        "auto_target",
        "notify_customer",
        "templates",
        "on_paid",
    }
    if unknown:
        raise StatusConfigError(f"{where}: unknown keys {sorted(unknown)}")
    code = _str(data, "code", where)
    where = f"status {code!r}"
    names = data.get("names", {})
    transitions = data.get("transitions", [])
    limit = data.get("time_limit_minutes")
    auto = data.get("auto_target")
    notify = data.get("notify_customer", False)
    templates = data.get("templates", {})
    on_paid = data.get("on_paid")
    if on_paid is not None and not isinstance(on_paid, str):
        raise StatusConfigError(f"{where}: on_paid must be a status code")
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise StatusConfigError(f"{where}: names must map locale to text")
    if not isinstance(transitions, list) or not all(isinstance(t, str) for t in transitions):
        raise StatusConfigError(f"{where}: transitions must be a list of status codes")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise StatusConfigError(f"{where}: time_limit_minutes must be a positive integer")
    if auto is not None and not isinstance(auto, str):
        raise StatusConfigError(f"{where}: auto_target must be a status code")
    if not isinstance(notify, bool):
        raise StatusConfigError(f"{where}: notify_customer must be true or false")
    if not isinstance(templates, dict) or not all(
        isinstance(v, dict) and all(isinstance(t, str) for t in v.values()) for v in templates.values()
    ):
        raise StatusConfigError(f"{where}: templates must map locale to {{kind: text}}")
    return StatusDef(
        code=code,
        group=_str(data, "group", where),
        names=dict(names),
        transitions=list(transitions),
        time_limit_minutes=limit,
        auto_target=auto,
        notify_customer=notify,
        templates={k: dict(v) for k, v in templates.items()},
        on_paid=on_paid,
    )


def validate(defs: list[StatusDef]) -> None:
    """The whole configuration must hang together; raises StatusConfigError naming the first problem."""
    codes = [d.code for d in defs]
    if len(set(codes)) != len(codes):
        raise StatusConfigError("status codes must be unique")
    known = set(codes)
    for d in defs:
        where = f"status {d.code!r}"
        if not _CODE.match(d.code) or d.code == DRAFT:
            raise StatusConfigError(f"{where}: code must be lower_snake_case (max 32) and not {DRAFT!r}")
        if d.group not in defaults.GROUPS:
            raise StatusConfigError(f"{where}: group must be one of {', '.join(defaults.GROUPS)}")
        for t in d.transitions:
            if t not in known:
                raise StatusConfigError(f"{where}: transition to unknown status {t!r}")
            if t == d.code:
                raise StatusConfigError(f"{where}: a status cannot transition to itself")
        if d.auto_target is not None:
            if d.auto_target not in d.transitions:
                raise StatusConfigError(f"{where}: auto_target {d.auto_target!r} must be a transition")
            if d.time_limit_minutes is None:
                raise StatusConfigError(f"{where}: auto_target needs time_limit_minutes")
        if d.on_paid is not None and d.on_paid not in d.transitions:
            raise StatusConfigError(f"{where}: on_paid {d.on_paid!r} must be a transition")
        if d.group in ("complete", "cancel") and any(
            next(x for x in defs if x.code == t).group not in ("complete", "cancel") for t in d.transitions
        ):
            raise StatusConfigError(f"{where}: a finished order cannot go back to an active status")
        for locale, kinds in d.templates.items():
            for kind, text in kinds.items():
                if kind not in TEMPLATE_KEYS:
                    raise StatusConfigError(f"{where}: template kind {kind!r} (use {sorted(TEMPLATE_KEYS)})")
                for name in _PLACEHOLDER.findall(text):
                    if name not in PLACEHOLDERS:
                        raise StatusConfigError(f"{where}: unknown placeholder {{{name}}} in {locale}/{kind}")
        if d.notify_customer and not d.templates:
            raise StatusConfigError(f"{where}: notify_customer needs at least one template")
    if not any(d.group == "new" for d in defs):
        raise StatusConfigError("at least one status must be in group 'new' (where submitted orders start)")
    if not any(d.group == "cancel" for d in defs):
        raise StatusConfigError("at least one status must be in group 'cancel'")


def parse_toml(text: str) -> list[StatusDef]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StatusConfigError(f"not valid TOML: {exc}") from exc
    items = data.get("status")
    if not isinstance(items, list) or not items:
        raise StatusConfigError("expected [[status]] tables")
    defs = [def_from_mapping(item, f"status #{i + 1}") for i, item in enumerate(items)]
    validate(defs)
    return defs


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes; non-ASCII kept as is).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def dump_toml(defs: list[StatusDef]) -> str:
    """A tiny TOML writer for exactly this layout; ``parse_toml(dump_toml(x)) == x``."""
    out: list[str] = []
    for d in defs:
        out.append("[[status]]")
        out.append(f"code = {_toml_value(d.code)}")
        out.append(f"group = {_toml_value(d.group)}")
        out.append(f"transitions = {_toml_value(d.transitions)}")
        if d.time_limit_minutes is not None:
            out.append(f"time_limit_minutes = {d.time_limit_minutes}")
        if d.auto_target is not None:
            out.append(f"auto_target = {_toml_value(d.auto_target)}")
        if d.on_paid is not None:
            out.append(f"on_paid = {_toml_value(d.on_paid)}")
        out.append(f"notify_customer = {_toml_value(d.notify_customer)}")
        if d.names:
            out.append("[status.names]")
            out.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.names.items())
        for locale, kinds in d.templates.items():
            out.append(f"[status.templates.{_toml_key(locale)}]")
            out.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in kinds.items())
        out.append("")
    return "\n".join(out)


async def load_statuses(session: AsyncSession) -> dict[str, OrderStatus]:
    """All statuses by code, in configured order."""
    rows = (
        await session.execute(select(OrderStatus).order_by(OrderStatus.position, OrderStatus.code))
    ).scalars()
    return {r.code: r for r in rows}


async def export_statuses(session: AsyncSession) -> list[StatusDef]:
    return [StatusDef.from_row(r) for r in (await load_statuses(session)).values()]


def initial_status(statuses: dict[str, OrderStatus]) -> OrderStatus:
    for s in statuses.values():
        if s.group == "new":
            return s
    raise StatusConfigError("no status in group 'new' is configured")


def cancel_status(statuses: dict[str, OrderStatus]) -> OrderStatus:
    for s in statuses.values():
        if s.group == "cancel":
            return s
    raise StatusConfigError("no status in group 'cancel' is configured")


def status_name(status: OrderStatus, locale: str) -> str:
    names: dict[str, str] = status.names
    return names.get(locale) or names.get("en") or next(iter(names.values()), status.code)


async def replace_statuses(session: AsyncSession, defs: list[StatusDef]) -> None:
    """Make the table match ``defs``. A status that orders still use cannot be removed."""
    validate(defs)
    current = await load_statuses(session)
    wanted = {d.code for d in defs}
    for code in set(current) - wanted:
        used = (await session.execute(select(Order.id).where(Order.status == code).limit(1))).first()
        if used is not None:
            raise StatusConfigError(f"status {code!r} is used by orders and cannot be removed")
        await session.delete(current[code])
    for position, d in enumerate(defs):
        row = current.get(d.code) or OrderStatus(code=d.code)
        row.group = d.group
        row.position = position
        row.names = d.names
        row.transitions = d.transitions
        row.time_limit_minutes = d.time_limit_minutes
        row.auto_target = d.auto_target
        row.notify_customer = d.notify_customer
        row.templates = d.templates
        row.on_paid = d.on_paid
        session.add(row)
    await session.flush()


async def ensure_defaults(session: AsyncSession) -> None:
    """Seed what migration 0004 seeds, where it is missing (idempotent; tests call it after a reset)."""
    if not (await session.execute(select(OrderStatus.code).limit(1))).first():
        validate([def_from_mapping(dict(r)) for r in defaults.STATUSES])
        for row in defaults.status_rows():
            session.add(OrderStatus(**row, on_paid=defaults.ON_PAID.get(row["code"])))
    for carrier in defaults.carrier_rows():
        await session.execute(insert_ignore(session, Carrier, carrier))
    from inbox.orders.carriers.statusmap import ensure_map

    await ensure_map(session)
    await session.execute(insert_ignore(session, Warehouse, defaults.MAIN_WAREHOUSE))
    await session.execute(insert_ignore(session, Counter, defaults.ORDER_COUNTER))
    await session.flush()
