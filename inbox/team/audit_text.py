"""Audit entries and order history as sentences a person reads, in the manager's language.

Rows keep structured data (an action code and its values); the text is made here, through Babel, when a
page is rendered, so that changing the language changes the whole log and nothing English is stored."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.customer_card.fields import kind_labels
from inbox.i18n import _
from inbox.models import AuditLog, OrderHistory
from inbox.orders.notify import format_rub

StatusLabel = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the log as the page shows it."""

    at: datetime
    who: str
    text: str
    kind: str  # "admin" | "order"
    action: str
    order_id: int | None = None


def _money(raw: str | None) -> str:
    try:
        return format_rub(int(raw or "0"))
    except ValueError:
        return raw or ""


def _role(code: Any) -> str:
    return {"admin": _("admin"), "manager": _("manager")}.get(str(code), str(code))


def actor_name(kind: str, manager_id: int | None, names: Mapping[int, str]) -> str:
    if manager_id is not None and manager_id in names:
        return names[manager_id]
    return {
        "manager": _("a manager"),
        "api": _("the shop's API"),
        "bot": _("the bot"),
        "system": _("the system"),
    }.get(kind, kind)


def _delivery(raw: str | None) -> str:
    method, _sep, rest = (raw or "").partition("; ")
    address, _sep2, cost = rest.rpartition("; ")
    parts = [p for p in (method if method != "None" else "", address if address != "None" else "") if p]
    parts.append(_money(cost))
    return ", ".join(parts)


def _payment(raw: str | None) -> str:
    state, _sep, amount = (raw or "").partition(" ")
    label = _("paid") if state == "paid" else _("not paid")
    return f"{label}, {_money(amount)}" if amount and amount != "0" else label


def order_change(h: OrderHistory, status_label: StatusLabel, names: Mapping[int, str]) -> str:
    """What one order_history row says, e.g. "Статус: Новый → Собран"."""
    old, new = h.from_value, h.to_value
    if h.action == "created":
        return _("Draft created")
    if h.action == "status":
        return _("Status: %(old)s → %(new)s") % {
            "old": status_label(old or ""),
            "new": status_label(new or ""),
        }
    if h.action == "line.add":
        return _("Added %(item)s") % {"item": new or ""}
    if h.action == "line.qty":
        return _("Quantity: %(old)s → %(new)s") % {"old": old or "", "new": new or ""}
    if h.action == "line.remove":
        return _("Removed %(item)s") % {"item": old or ""}
    if h.action == "delivery":
        return _("Delivery: %(value)s") % {"value": _delivery(new)}
    if h.action == "payment":
        return _("Payment: %(value)s") % {"value": _payment(new)}
    if h.action == "comment":
        return _("Comment: %(text)s") % {"text": new or "—"}
    if h.action == "manager":
        who = names.get(int(new), new) if new and new.isdigit() else _("nobody")
        return _("Manager: %(name)s") % {"name": who}
    if h.action == "tracking":
        return _("Tracking number: %(track)s") % {"track": new or ""}
    if h.action == "reservation.expired":
        return _("The reservation of the draft expired")
    return h.action


def admin_action(entry: AuditLog, names: Mapping[int, str]) -> str:
    """What one audit_log row says: the action code with its details, as a sentence."""
    d: dict[str, Any] = dict(entry.details or {})
    target = entry.target
    action = entry.action
    if action == "manager.create":
        return _("Added the manager %(email)s (%(role)s)") % {"email": target, "role": _role(d.get("role"))}
    if action == "manager.role":
        return _("Changed the role of %(who)s to %(role)s") % {
            "who": target,
            "role": _role(d.get("new", d.get("role"))),
        }
    if action == "manager.deactivate":
        return _("Deactivated the manager %(who)s") % {"who": target}
    if action == "manager.activate":
        return _("Activated the manager %(who)s") % {"who": target}
    if action == "channel.enable":
        return _("Enabled the channel %(name)s") % {"name": target}
    if action == "channel.disable":
        return _("Disabled the channel %(name)s") % {"name": target}
    if action == "channel.add":
        return _("Added the channel %(name)s (%(kind)s)") % {"name": target, "kind": d.get("kind", "")}
    if action == "channel.edit":
        return _("Changed the settings of the channel %(name)s: %(fields)s") % {
            "name": target,
            # the fields' labels (English msgids, translated here), or their names in older entries
            "fields": ", ".join(_(str(f)) for f in d.get("labels") or d.get("fields", [])),
        }
    if action == "team.settings":
        parts = [
            _("round robin on") if d.get("round_robin") else _("round robin off"),
            _("waiting alert after %(n)s min") % {"n": d.get("waiting_minutes", 0)},
        ]
        if "response_minutes" in d:
            parts.append(_("response target %(n)s min") % {"n": d["response_minutes"]})
        if "assign_on_reply" in d:
            parts.append(
                _("answering assigns the conversation")
                if d["assign_on_reply"]
                else _("answering does not assign the conversation")
            )
        return _("Changed the team settings: %(what)s") % {"what": ", ".join(parts)}
    if action == "order_statuses.save":
        return _("Changed the order statuses (%(n)s statuses)") % {"n": d.get("count", "?")}
    if action == "carrier_statuses.save":
        return _("Changed the status map of carrier %(kind)s (%(n)s statuses)") % {
            "kind": target,
            "n": d.get("count", "?"),
        }
    if action == "canned.create":
        return _("Added the shared canned reply /%(shortcut)s") % {"shortcut": target}
    if action == "canned.update":
        return _("Changed the shared canned reply /%(shortcut)s") % {"shortcut": target}
    if action == "canned.delete":
        return _("Deleted the shared canned reply /%(shortcut)s") % {"shortcut": target}
    if action == "custom_field.add":
        kind = kind_labels().get(str(d.get("kind", "")), str(d.get("kind", "")))
        return _("Added the customer card field «%(name)s» (%(kind)s, key %(key)s)") % {
            "name": d.get("name") or target,
            "kind": kind,
            "key": target,
        }
    if action == "custom_field.delete":
        if d.get("name"):
            return _("Deleted the customer card field «%(name)s»") % {"name": d["name"]}
        return _("Deleted a customer card field (no. %(id)s)") % {"id": target}
    return f"{action} {target}".strip()


def merged_log(
    audit_rows: list[AuditLog],
    history: list[tuple[OrderHistory, int | None]],
    names: Mapping[int, str],
    status_label: StatusLabel,
) -> list[LogLine]:
    """Admin actions and order changes together, newest first. ``history`` pairs a row with its order
    number (None for a draft)."""
    lines = [
        LogLine(
            at=e.created_at,
            who=actor_name("manager", e.actor_id, names) if e.actor_id else _("the system"),
            text=admin_action(e, names),
            kind="admin",
            action=e.action,
        )
        for e in audit_rows
    ]
    for h, number in history:
        what = order_change(h, status_label, names)
        label = _("Order №%(n)s") % {"n": number} if number else _("Draft #%(id)s") % {"id": h.order_id}
        lines.append(
            LogLine(
                at=h.at,
                who=actor_name(h.actor, h.manager_id, names),
                text=f"{label}: {what}",
                kind="order",
                action=h.action,
                order_id=h.order_id,
            )
        )
    lines.sort(key=lambda line: line.at, reverse=True)
    return lines
