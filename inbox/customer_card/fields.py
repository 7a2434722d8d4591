"""Custom fields an admin adds to every customer card (text, number, date, select) and the validation of
the values a manager types; values live in ``customer.fields`` under the field's key."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.i18n import _
from inbox.models import CustomField

KINDS: tuple[str, ...] = ("text", "number", "date", "select")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = 500


class FieldError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def kind_labels() -> dict[str, str]:
    return {"text": _("Text"), "number": _("Number"), "date": _("Date"), "select": _("List of options")}


async def all_fields(session: AsyncSession) -> list[CustomField]:
    rows = await session.execute(select(CustomField).order_by(CustomField.position, CustomField.id))
    return list(rows.scalars())


async def define_field(
    session: AsyncSession, *, key: str, name: str, kind: str, options: list[str] | None = None
) -> CustomField:
    key, name = key.strip(), name.strip()
    if not KEY.match(key):
        raise FieldError(
            _("The key is 1 to 40 lowercase Latin letters, digits or _, starting with a letter.")
        )
    if not name or len(name) > 100:
        raise FieldError(_("The field name must be 1 to 100 characters."))
    if kind not in KINDS:
        raise FieldError(_("Unknown field type {kind}.").format(kind=kind))
    opts = [o.strip() for o in options or [] if o.strip()]
    if kind == "select" and not opts:
        raise FieldError(_("A list field needs at least one option."))
    taken = (await session.execute(select(CustomField.id).where(CustomField.key == key))).scalar_one_or_none()
    if taken is not None:
        raise FieldError(_("A field with the key {key} already exists.").format(key=key))
    position = len(await all_fields(session))
    row = CustomField(
        key=key, name=name, kind=kind, options=opts if kind == "select" else [], position=position
    )
    session.add(row)
    await session.flush()
    return row


async def delete_field(session: AsyncSession, field_id: int) -> None:
    row = await session.get(CustomField, field_id)
    if row is not None:
        await session.delete(row)


def clean_value(field: CustomField, raw: str | None) -> Any:
    """The stored value for what a manager typed (None: empty); FieldError names the field."""
    text = (raw or "").strip()
    if not text:
        return None
    if field.kind == "text":
        if len(text) > MAX_TEXT:
            raise FieldError(_("{field}: at most {n} characters.").format(field=field.name, n=MAX_TEXT))
        return text
    if field.kind == "number":
        try:
            number = Decimal(text.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            raise FieldError(_("{field}: a number is expected.").format(field=field.name)) from None
        if not number.is_finite():
            raise FieldError(_("{field}: a number is expected.").format(field=field.name))
        return int(number) if number == number.to_integral_value() else float(number)
    if field.kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise FieldError(
                _("{field}: a date is expected (YYYY-MM-DD).").format(field=field.name)
            ) from None
    if text not in field.options:
        raise FieldError(
            _("{field}: choose one of: {options}.").format(field=field.name, options=", ".join(field.options))
        )
    return text
