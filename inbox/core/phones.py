"""Phone numbers: everything is stored as E.164 (``+79991234567``); parsing uses ``phonenumbers``."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str, region: str = "RU") -> str:
    """``8 (999) 123-45-67`` -> ``+79991234567``. Raises InvalidPhone with a reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty phone number")
    # Telegram shares contacts without the plus sign: "79991234567".
    if text.isdigit() and len(text) > 10 and not text.startswith("8"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str | None, region: str = "RU") -> str | None:
    if not raw:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhone:
        return None
