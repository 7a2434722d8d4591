"""Delivery methods as a manager reads them: orders store a short code (``pickup`` from the bot, or what a
manager typed); the panel shows and accepts the name in the manager's language."""

from __future__ import annotations

from inbox.i18n import _

CODES: tuple[str, ...] = ("courier", "pickup", "post", "cdek")


def delivery_names() -> dict[str, str]:
    """Known codes -> names in the current locale."""
    return {
        "courier": _("Courier"),
        "pickup": _("Pickup"),
        "post": _("Russian Post"),
        "cdek": _("CDEK"),
        "cdek_pvz": _("CDEK pickup point"),
    }


def delivery_label(code: str | None) -> str:
    """The name of a known code; anything else as typed."""
    if not code:
        return ""
    return delivery_names().get(code, code)


def delivery_code(text: str | None) -> str | None:
    """Back from what the form sent: a known name (any case) becomes its code; other text stays as typed."""
    value = (text or "").strip()
    if not value:
        return None
    by_name = {name.casefold(): code for code, name in delivery_names().items()}
    return by_name.get(value.casefold(), value)
