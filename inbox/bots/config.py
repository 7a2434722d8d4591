"""Shop-editable bot configuration: greeting, working hours, delivery methods, limits and FAQ entries, kept
in ``bot_setting`` / ``bot_faq``. ``import_config`` reads a small TOML or JSON document (web admin later)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.db import insert_for
from inbox.models import BotFaq, BotSetting, utcnow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOCALES = ("ru", "en")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class BotConfigError(ValueError):
    """A bot setting or FAQ entry we cannot use; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DeliveryMethod:
    code: str
    names: dict[str, str]
    cost: int = 0  # kopecks
    needs_address: bool = True

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or self.code


DEFAULT_DELIVERY = (
    DeliveryMethod("pickup", {"ru": "Самовывоз", "en": "Pickup"}, 0, False),
    DeliveryMethod("courier", {"ru": "Курьер", "en": "Courier"}, 30000, True),
    DeliveryMethod("post", {"ru": "Почта", "en": "Post"}, 35000, True),
)
DEFAULT_WEEK: dict[str, tuple[time, time] | None] = {
    **{d: (time(9), time(18)) for d in DAYS[:5]},
    "sat": (time(10), time(16)),
    "sun": None,
}


@dataclass(frozen=True, slots=True)
class Faq:
    pattern: re.Pattern[str]
    answer: str


@dataclass(frozen=True, slots=True)
class BotConfig:
    enabled: bool = True
    greeting: dict[str, str] = field(default_factory=dict)  # locale -> text; empty = built-in text
    timezone: str = "Europe/Moscow"
    week: dict[str, tuple[time, time] | None] = field(default_factory=lambda: dict(DEFAULT_WEEK))
    delivery: tuple[DeliveryMethod, ...] = DEFAULT_DELIVERY
    replies_per_minute: int = 20
    misunderstood_limit: int = 2
    manager_quiet_minutes: int = 30  # a manager's reply keeps the bot silent this long
    faq: dict[str, tuple[Faq, ...]] = field(default_factory=dict)  # locale -> entries

    def delivery_method(self, code: str) -> DeliveryMethod | None:
        return next((m for m in self.delivery if m.code == code), None)


# ---- parsing ---------------------------------------------------------------------------------------------


def parse_hours(value: Any, where: str) -> tuple[time, time] | None:
    if value in (None, "", "closed", False):
        return None
    m = _HOURS.match(str(value).strip())
    if not m:
        raise BotConfigError(f'{where}: working hours look like "09:00-18:00" or "closed", got {value!r}')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise BotConfigError(f"{where}: not a time of day: {value!r}")
    start, end = time(h1, m1), (time(23, 59, 59) if h2 == 24 else time(h2, m2))
    if end <= start:
        raise BotConfigError(f"{where}: the day must end after it starts: {value!r}")
    return start, end


def check_timezone(name: Any) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BotConfigError(f"hours.timezone: unknown time zone {name!r}") from exc
    return str(name)


def compile_pattern(pattern: str, where: str) -> re.Pattern[str]:
    if not pattern or len(pattern) > 500:
        raise BotConfigError(f"{where}: a pattern must be 1 to 500 characters long")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise BotConfigError(f"{where}: not a valid regular expression: {exc}") from exc


def _delivery(value: Any) -> tuple[DeliveryMethod, ...]:
    if not isinstance(value, list) or not value:
        raise BotConfigError("delivery must be a non-empty list of methods")
    out = []
    for i, item in enumerate(value):
        where = f"delivery[{i}]"
        if not isinstance(item, dict) or not re.match(r"^[a-z0-9_]{1,16}$", str(item.get("code", ""))):
            raise BotConfigError(f"{where}: needs a code of 1-16 characters [a-z0-9_]")
        names = item.get("names") or {}
        if not isinstance(names, dict) or not all(isinstance(v, str) and v for v in names.values()):
            raise BotConfigError(f"{where}: names must map locales to text")
        cost = item.get("cost", 0)
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise BotConfigError(f"{where}: cost must be a non-negative amount in kopecks")
        out.append(
            DeliveryMethod(str(item["code"]), dict(names), cost, bool(item.get("needs_address", True)))
        )
    return tuple(out)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BotConfigError(f"{name} must be a non-negative whole number, got {value!r}")
    return value


def config_from(settings: dict[str, Any], faq_rows: list[BotFaq], default_tz: str) -> BotConfig:
    hours = settings.get("hours") or {}
    week = dict(DEFAULT_WEEK)
    if "week" in hours:
        week = {d: parse_hours(hours["week"].get(d), f"hours.week.{d}") for d in DAYS}
    limits = settings.get("limits") or {}
    faq: dict[str, list[Faq]] = {}
    for row in faq_rows:
        try:
            faq.setdefault(row.locale, []).append(Faq(compile_pattern(row.pattern, "faq"), row.answer))
        except BotConfigError:
            continue  # a bad stored pattern (edited by hand) never breaks the bot
    return BotConfig(
        enabled=bool(settings.get("enabled", True)),
        greeting={k: str(v) for k, v in (settings.get("greeting") or {}).items()},
        timezone=str(hours.get("timezone") or default_tz),
        week=week,
        delivery=_delivery(settings["delivery"]) if settings.get("delivery") else DEFAULT_DELIVERY,
        replies_per_minute=int(limits.get("replies_per_minute", 20)),
        misunderstood_limit=int(limits.get("misunderstood", 2)),
        manager_quiet_minutes=int(limits.get("manager_quiet_minutes", 30)),
        faq={k: tuple(v) for k, v in faq.items()},
    )


async def load_config(session: AsyncSession, default_tz: str = "Europe/Moscow") -> BotConfig:
    settings = {r.key: r.value for r in (await session.execute(select(BotSetting))).scalars()}
    faq_rows = list(
        (
            await session.execute(
                select(BotFaq).where(BotFaq.active.is_(True)).order_by(BotFaq.position, BotFaq.id)
            )
        ).scalars()
    )
    return config_from(settings, faq_rows, default_tz)


# ---- import ----------------------------------------------------------------------------------------------


def parse_document(text: str, fmt: str) -> dict[str, Any]:
    if fmt not in ("toml", "json"):
        raise BotConfigError(f"format must be toml or json, got {fmt!r}")
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise BotConfigError(f"not valid {fmt.upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise BotConfigError("the document must be a table / object at the top level")
    return data


def validate_document(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """(settings to store by key, FAQ rows or None when the document has no ``faq`` list)."""
    known = {"enabled", "greeting", "hours", "delivery", "limits", "faq"}
    unknown = set(data) - known
    if unknown:
        raise BotConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
    settings: dict[str, Any] = {}
    if "enabled" in data:
        settings["enabled"] = bool(data["enabled"])
    if "greeting" in data:
        greeting = data["greeting"]
        if not isinstance(greeting, dict) or not all(
            k in LOCALES and isinstance(v, str) and v.strip() for k, v in greeting.items()
        ):
            raise BotConfigError("greeting must map ru/en to non-empty text")
        settings["greeting"] = greeting
    if "hours" in data:
        hours = data["hours"]
        if not isinstance(hours, dict):
            raise BotConfigError("hours must be a table with timezone and week")
        out: dict[str, Any] = {}
        if "timezone" in hours:
            out["timezone"] = check_timezone(hours["timezone"])
        week = hours.get("week", {})
        if not isinstance(week, dict) or set(week) - set(DAYS):
            raise BotConfigError(f"hours.week keys must be among {', '.join(DAYS)}")
        for d in DAYS:
            parse_hours(week.get(d), f"hours.week.{d}")
        out["week"] = {d: week.get(d) or "closed" for d in DAYS}
        settings["hours"] = out
    if "delivery" in data:
        _delivery(data["delivery"])
        settings["delivery"] = data["delivery"]
    if "limits" in data:
        limits = data["limits"]
        if not isinstance(limits, dict):
            raise BotConfigError("limits must be a table")
        for key in limits:
            if key not in ("replies_per_minute", "misunderstood", "manager_quiet_minutes"):
                raise BotConfigError(f"unknown limit {key!r}")
            _positive(limits[key], f"limits.{key}")
        settings["limits"] = limits
    faq = None
    if "faq" in data:
        if not isinstance(data["faq"], list):
            raise BotConfigError("faq must be a list of {locale, pattern, answer}")
        faq = []
        for i, item in enumerate(data["faq"]):
            where = f"faq[{i}]"
            if not isinstance(item, dict):
                raise BotConfigError(f"{where}: must be a table with locale, pattern, answer")
            locale, pattern, answer = item.get("locale"), item.get("pattern"), item.get("answer")
            if locale not in LOCALES:
                raise BotConfigError(f"{where}: locale must be ru or en, got {locale!r}")
            compile_pattern(str(pattern or ""), where)
            if not isinstance(answer, str) or not answer.strip():
                raise BotConfigError(f"{where}: answer must be non-empty text")
            faq.append({"locale": locale, "pattern": pattern, "answer": answer.strip(), "position": i})
    return settings, faq


async def import_config(session: AsyncSession, text: str, fmt: str = "toml") -> tuple[int, int]:
    """Validate a whole document, then store it: settings by key (others untouched) and, when the
    document has a ``faq`` list, replace all FAQ entries. Returns (settings stored, FAQ entries)."""
    settings, faq = validate_document(parse_document(text, fmt))
    for key, value in settings.items():
        stmt = insert_for(session, BotSetting).values(key=key, value=value, updated_at=utcnow())
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": utcnow()})
        )
    if faq is not None:
        await session.execute(delete(BotFaq))
        session.add_all(BotFaq(active=True, **row) for row in faq)
        await session.flush()
    return len(settings), len(faq or [])
