"""Jinja filters: dates in the manager's language, message text with safe links, channel labels."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment
from markupsafe import Markup, escape

from inbox import i18n
from inbox.core.kinds import kind_info
from inbox.orders.delivery_names import delivery_label
from inbox.orders.notify import format_rub

_URL = re.compile(r"https?://[^\s<>\"']+")

_tz: tzinfo = ZoneInfo("Europe/Moscow")


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    locale = i18n.current()
    if value.astimezone(_tz).date() == datetime.now(_tz).date():
        return format_datetime(value, "HH:mm", tzinfo=_tz, locale=locale)
    return format_datetime(value, "d MMM HH:mm", tzinfo=_tz, locale=locale)


def full_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, "medium", tzinfo=_tz, locale=i18n.current())


def linkify(text: str | None) -> Markup:
    """Escape the text, then turn URLs into links that open safely; newlines become <br>."""
    escaped = str(escape(text or ""))
    linked = _URL.sub(
        lambda m: (
            f'<a href="{m.group(0)}" target="_blank" rel="noopener noreferrer nofollow">{m.group(0)}</a>'
        ),
        escaped,
    )
    return Markup(linked.replace("\n", "<br>"))


def channel_label(kind: str | None) -> str:
    """A brand name stays as it is; a descriptive label (the website widget) is an English msgid."""
    return i18n.gettext(kind_info(kind).label) if kind else ""


def isolate(text: str) -> str:
    """Plain-text bidi isolation (FSI ... PDI) where no <bdi> can go, e.g. in <title>: an RLO in a
    customer's name cannot reorder what follows it."""
    return f"\u2068{text}\u2069"


ICON_NAME = re.compile(r"^[a-z0-9-]+$")


def icon(name: str, label: str | None = None) -> Markup:
    """An inline SVG icon from the sprite in static/icons.svg (no emoji: they need an emoji font).
    Decorative unless ``label`` is given, which becomes its accessible name."""
    if not ICON_NAME.match(name):
        raise ValueError(f"bad icon name {name!r}")
    aria = f'role="img" aria-label="{escape(label)}"' if label else 'aria-hidden="true"'
    use = f'<use href="/static/icons.svg#i-{name}"></use>'
    return Markup(f'<svg class="icon i-{name}" {aria} focusable="false">{use}</svg>')


def register(env: Environment, timezone: str = "Europe/Moscow") -> None:
    global _tz
    _tz = ZoneInfo(timezone)
    env.filters["when"] = when
    env.filters["full_time"] = full_time
    env.filters["linkify"] = linkify
    env.filters["isolate"] = isolate
    env.filters["channel_label"] = channel_label
    env.filters["delivery_label"] = delivery_label
    env.filters["rub"] = format_rub
    env.filters["money"] = format_rub
    env.globals["icon"] = icon
