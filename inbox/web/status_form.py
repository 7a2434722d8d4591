"""The order status table of the admin page as form fields, and back: one row per status (group, names,
time limit, automatic move, customer notice), and the transitions matrix as one checkbox per pair.

Field names: ``group:<code>``, ``name_ru:<code>``, ``name_en:<code>``, ``limit:<code>``, ``auto:<code>``,
``notify:<code>``, ``remove:<code>``, ``t:<from>:<to>``; a new status: ``new_code``, ``new_group``,
``new_name_ru``, ``new_name_en``. Templates are not in the table: they stay as they are (TOML edits them)."""

from __future__ import annotations

from collections.abc import Mapping

from inbox.i18n import _
from inbox.orders.errors import StatusConfigError
from inbox.orders.statuses import StatusDef


def _limit(raw: str, code: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise StatusConfigError(
            _("Status %(code)s: the time limit is a whole number of minutes, or empty.") % {"code": code}
        )
    return int(text)


def defs_from_form(current: list[StatusDef], form: Mapping[str, str]) -> list[StatusDef]:
    """The configuration the table describes; validation is replace_statuses' job."""
    out: list[StatusDef] = []
    for d in current:
        if form.get(f"remove:{d.code}") == "1":
            continue
        names = dict(d.names)
        for locale in ("ru", "en"):
            value = form.get(f"name_{locale}:{d.code}", "").strip()
            if value:
                names[locale] = value
            else:
                names.pop(locale, None)
        out.append(
            StatusDef(
                code=d.code,
                group=form.get(f"group:{d.code}", d.group),
                names=names,
                transitions=[],
                time_limit_minutes=_limit(form.get(f"limit:{d.code}", ""), d.code),
                auto_target=form.get(f"auto:{d.code}", "").strip() or None,
                notify_customer=form.get(f"notify:{d.code}") == "1",
                templates=d.templates,
                on_paid=form.get(f"paid:{d.code}", "").strip() or None,
            )
        )
    new_code = form.get("new_code", "").strip()
    if new_code:
        names = {
            loc: form.get(f"new_name_{loc}", "").strip()
            for loc in ("ru", "en")
            if form.get(f"new_name_{loc}", "").strip()
        }
        out.append(StatusDef(code=new_code, group=form.get("new_group", "new"), names=names))
    codes = [d.code for d in out]
    for d in out:
        d.transitions = [to for to in codes if to != d.code and form.get(f"t:{d.code}:{to}") == "1"]
    return out
