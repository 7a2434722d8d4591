"""The widget's config schema: ``inbox channel add widget`` options and the admin form (one validation).

The key (``data-key`` on the page) and the signing secret are made when the widget is added and kept on
every edit: the edit form shows the key back (it is public anyway), and a blank secret keeps the stored one.
"""

from __future__ import annotations

import re
import secrets as pysecrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inbox.channels.config import N_, AddedAccount, ChannelConfig, ConfigError, ConfigField, Stored, Values
from inbox.channels.widget.config import BadConfig, WidgetConfig, normalize_origin, parse_config, parse_hours
from inbox.i18n import _

if TYPE_CHECKING:
    from inbox.settings import Settings

HOURS = re.compile(r"([1-7])(?:-([1-7]))?\s+(\d\d:\d\d)-(\d\d:\d\d)")


def parse_hours_text(text: str, tz: str) -> dict[str, Any]:
    """ "1-5 09:00-18:00" (ISO weekdays, 1 = Monday) -> the stored hours."""
    match = HOURS.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            _("{field} looks like 1-5 09:00-18:00 (weekdays from 1 = Monday, then the hours)"), "hours"
        )
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if last < first:
        raise ConfigError(_("{field}: the first weekday comes before the last"), "hours")
    hours = {"days": list(range(first - 1, last)), "from": match.group(3), "to": match.group(4), "tz": tz}
    try:
        parse_hours(hours)
    except BadConfig as exc:
        raise ConfigError(_("{field}: {problem}"), "hours", problem=str(exc)) from exc
    return hours


def show_hours(value: Any) -> str:
    if not isinstance(value, dict) or not value.get("days"):
        return ""
    days = value["days"]
    span = f"{days[0] + 1}-{days[-1] + 1}" if len(days) > 1 else str(days[0] + 1)
    return f"{span} {value.get('from', '00:00')}-{value.get('to', '24:00')}"


def build(v: Values) -> Stored:
    public = str(v["public_url"] or "").strip().rstrip("/") or None
    try:
        origins = tuple(dict.fromkeys(normalize_origin(o) for o in v["origin"] or ()))
    except BadConfig as exc:
        raise ConfigError(_("{field}: {problem}"), "origin", problem=str(exc)) from exc
    if not origins:
        raise ConfigError(_("{field} is required"), "origin")
    key = str(v["key"] or "").strip() or pysecrets.token_urlsafe(18)
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", key):
        raise ConfigError(_("{field} may contain only A-Z, a-z, 0-9, _ and -, 16 to 64 characters"), "key")
    cfg = WidgetConfig(
        key=key,
        origins=origins,
        public_url=public,
        title=str(v["title"] or "").strip(),
        greeting=str(v["greeting"] or "").strip(),
        color=str(v["color"] or "#1f6feb"),
        position=str(v["position"] or "right"),
        lang=str(v["lang"] or "auto"),
    )
    settings = cfg.as_settings()
    settings["timezone"] = str(v["timezone"] or "Europe/Moscow")
    if v["hours"]:
        settings["hours"] = parse_hours_text(str(v["hours"]), str(v["timezone"] or "Europe/Moscow"))
    try:
        parse_config(settings)
    except BadConfig as exc:
        raise ConfigError(_("{field}: {problem}"), "color", problem=str(exc)) from exc
    return settings, {"secret": str(v["secret"] or "") or pysecrets.token_hex(32)}


def check_app(stored: Stored, app: Settings) -> None:
    """The snippet needs this server's public URL: --public-url, else INBOX_PUBLIC_URL."""
    if not stored[0].get("public_url") and not app.public_url:
        raise ConfigError(
            _("the widget needs this server's public URL: {field} https://inbox.example or INBOX_PUBLIC_URL"),
            "public_url",
        )


def after_add(account: AddedAccount) -> Sequence[str]:
    public = account.settings.get("public_url") or account.app.public_url or ""
    return [
        f'<script src="{public}/widget.js" data-key="{account.settings["key"]}" async></script>',
        "# logged-in buyers: data-customer-id and data-customer-sig = HMAC-SHA256 of your user id, hex, "
        f"keyed with this secret (keep it on your server): {account.secrets.get('secret', '')}",
    ]


CONFIG = ChannelConfig(
    fields=(
        ConfigField(
            "origin",
            N_("Allowed sites"),
            N_("Sites that may show the widget, e.g. https://shop.example (one per line)."),
            multiple=True,
            required=True,
            key="origins",
        ),
        ConfigField(
            "public_url",
            N_("Public URL"),
            N_("Where browsers reach this server (default: INBOX_PUBLIC_URL)."),
            type="url",
        ),
        ConfigField("title", N_("Title"), N_("The chat window's title (default: Chat with us).")),
        ConfigField("greeting", N_("Greeting"), N_("The first line a visitor sees.")),
        ConfigField("color", N_("Colour"), N_("The accent colour, #rrggbb."), default="#1f6feb"),
        ConfigField(
            "position",
            N_("Position"),
            type="choice",
            choices=("right", "left"),
            choice_labels=(N_("Bottom right"), N_("Bottom left")),
            default="right",
        ),
        ConfigField(
            "lang",
            N_("Language"),
            N_("auto: the language of the shop's page."),
            type="choice",
            choices=("auto", "ru", "en"),
            choice_labels=(N_("The page's language"), N_("Russian"), N_("English")),
            default="auto",
        ),
        ConfigField(
            "hours",
            N_("Working hours"),
            N_("e.g. 1-5 09:00-18:00 (weekdays from 1 = Monday); empty: always online."),
            show=show_hours,
        ),
        ConfigField(
            "timezone",
            N_("Time zone"),
            N_("For the working hours, e.g. Europe/Moscow."),
            default="Europe/Moscow",
        ),
        ConfigField("key", N_("Widget key"), N_("Made when the widget is added; kept on edit.")),
        ConfigField(
            "secret",
            N_("Signing secret"),
            N_("For signed customer ids; made when the widget is added, kept when left blank."),
            secret=True,
        ),
    ),
    build=build,
    after_add=after_add,
    check_app=check_app,
)
