"""Editing the customer card: name, phone (E.164), email, addresses, birthday and custom fields, validated
as a whole (nothing changes when one value is wrong)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.phones import InvalidPhone, normalize_phone
from inbox.customer_card.fields import FieldError, all_fields, clean_value
from inbox.i18n import _
from inbox.models import Customer, utcnow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ADDRESSES = 10


class ProfileError(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


async def update_profile(
    session: AsyncSession, customer: Customer, form: Mapping[str, str], region: str = "RU"
) -> Customer:
    """Apply the card form (``name``, ``phone``, ``email``, ``addresses`` one per line, ``birthday``
    YYYY-MM-DD, ``field_<key>``). Every wrong value is reported; none is applied then."""
    errors: list[str] = []
    name = (form.get("name") or "").strip()
    if len(name) > 200:
        errors.append(_("The name is at most 200 characters."))
    phone: str | None = None
    if (raw_phone := (form.get("phone") or "").strip()) != "":
        try:
            phone = normalize_phone(raw_phone, region)
        except InvalidPhone:
            errors.append(_("{value} is not a phone number.").format(value=raw_phone))
    email = (form.get("email") or "").strip().lower() or None
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        errors.append(_("{value} is not an email address.").format(value=email))
    addresses = [a.strip() for a in (form.get("addresses") or "").splitlines() if a.strip()]
    if len(addresses) > MAX_ADDRESSES or any(len(a) > 500 for a in addresses):
        errors.append(_("At most {n} addresses of up to 500 characters.").format(n=MAX_ADDRESSES))
    birthday: date | None = None
    if raw_birthday := (form.get("birthday") or "").strip():
        try:
            birthday = date.fromisoformat(raw_birthday)
        except ValueError:
            errors.append(_("The birthday must be a date (YYYY-MM-DD)."))
        else:
            if birthday > date.today() or birthday.year < 1900:
                errors.append(_("The birthday must be a date in the past."))
    values = dict(customer.fields or {})
    for field in await all_fields(session):
        if f"field_{field.key}" not in form:
            continue
        try:
            value = clean_value(field, form.get(f"field_{field.key}"))
        except FieldError as exc:
            errors.append(exc.reason)
            continue
        if value is None:
            values.pop(field.key, None)
        else:
            values[field.key] = value
    if errors:
        raise ProfileError(errors)
    customer.name = name
    if phone != customer.phone:
        customer.phone, customer.phone_verified = phone, False
    if email != customer.email:
        customer.email, customer.email_verified = email, False
    customer.addresses = addresses
    customer.birthday = birthday
    customer.fields = values
    customer.updated_at = utcnow()
    await session.flush()
    return customer
