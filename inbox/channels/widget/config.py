"""A widget key's settings (``channel_account.settings``) with their defaults, validated in one place for
the CLI and the routes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

COLOR = re.compile(r"#[0-9a-fA-F]{6}")
HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DEFAULT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)


class BadConfig(ValueError):
    pass


def normalize_origin(value: str) -> str:
    """``https://shop.example`` (scheme and host[:port], no path); BadConfig otherwise."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise BadConfig(f"{value!r} is not an origin like https://shop.example")
    if parts.query or parts.fragment or parts.username:
        raise BadConfig(f"{value!r} is not an origin like https://shop.example")
    host = parts.hostname.lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True, slots=True)
class Hours:
    """Working hours: the listed weekdays (0 = Monday), from..to shop-local time."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    start: str = "00:00"
    end: str = "24:00"
    tz: str = "Europe/Moscow"

    def open_at(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.tz))
        if local.weekday() not in self.days:
            return False
        if self.end == "24:00":
            return local.time() >= time.fromisoformat(self.start)
        return time.fromisoformat(self.start) <= local.time() < time.fromisoformat(self.end)


@dataclass(frozen=True, slots=True)
class WidgetConfig:
    key: str
    origins: tuple[str, ...]
    public_url: str | None = None
    title: str = ""  # empty: the translated default
    greeting: str = ""
    color: str = "#1f6feb"
    position: str = "right"  # right | left
    lang: str = "auto"  # auto (the page's lang) | ru | en
    hours: Hours | None = None  # None: always online
    max_text: int = 2000
    max_upload: int = 10 * 1024 * 1024
    upload_types: tuple[str, ...] = DEFAULT_TYPES
    # rate limits: (count, seconds)
    rate_messages: tuple[int, float] = (20, 60.0)
    rate_ip: tuple[int, float] = (120, 60.0)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def online(self, now: datetime) -> bool:
        return self.hours is None or self.hours.open_at(now)

    def as_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "origins": list(self.origins),
            "color": self.color,
            "position": self.position,
            "lang": self.lang,
            "max_text": self.max_text,
            "max_upload": self.max_upload,
            "upload_types": list(self.upload_types),
            "rate_messages": list(self.rate_messages),
            "rate_ip": list(self.rate_ip),
        }
        for name in ("public_url", "title", "greeting"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.hours is not None:
            h = self.hours
            out["hours"] = {"days": list(h.days), "from": h.start, "to": h.end, "tz": h.tz}
        return out


def _pair(value: Any, default: tuple[int, float]) -> tuple[int, float]:
    if isinstance(value, list | tuple) and len(value) == 2:
        count, seconds = int(value[0]), float(value[1])
        if count >= 1 and seconds > 0:
            return count, seconds
        raise BadConfig("a rate limit is [count >= 1, seconds > 0]")
    return default


def parse_hours(value: Any) -> Hours | None:
    if not value:
        return None
    if not isinstance(value, Mapping):
        raise BadConfig("hours: {days: [0..6], from: HH:MM, to: HH:MM, tz: Area/City}")
    days = tuple(sorted({int(d) for d in value.get("days", range(7))}))
    start, end = str(value.get("from", "00:00")), str(value.get("to", "24:00"))
    if (
        any(d < 0 or d > 6 for d in days)
        or not HHMM.fullmatch(start)
        or not (HHMM.fullmatch(end) or end == "24:00")
    ):
        raise BadConfig("hours: days are 0 (Monday) .. 6, times are HH:MM")
    tz = str(value.get("tz", "Europe/Moscow"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadConfig(f"hours: unknown time zone {tz!r}") from exc
    return Hours(days=days, start=start, end=end, tz=tz)


def parse_config(settings: Mapping[str, Any]) -> WidgetConfig:
    key = str(settings.get("key") or "")
    if not key:
        raise BadConfig("a widget account without a key")
    color = str(settings.get("color") or "#1f6feb")
    if not COLOR.fullmatch(color):
        raise BadConfig(f"color must look like #1f6feb, got {color!r}")
    position = str(settings.get("position") or "right")
    if position not in ("right", "left"):
        raise BadConfig("position is right or left")
    lang = str(settings.get("lang") or "auto")
    if lang not in ("auto", "ru", "en"):
        raise BadConfig("lang is auto, ru or en")
    types = settings.get("upload_types")
    return WidgetConfig(
        key=key,
        origins=tuple(normalize_origin(o) for o in settings.get("origins") or ()),
        public_url=settings.get("public_url") or None,
        title=str(settings.get("title") or "")[:80],
        greeting=str(settings.get("greeting") or "")[:500],
        color=color,
        position=position,
        lang=lang,
        hours=parse_hours(settings.get("hours")),
        max_text=max(1, int(settings.get("max_text") or 2000)),
        max_upload=max(1, int(settings.get("max_upload") or 10 * 1024 * 1024)),
        upload_types=tuple(str(t) for t in types) if isinstance(types, list) else DEFAULT_TYPES,
        rate_messages=_pair(settings.get("rate_messages"), (20, 60.0)),
        rate_ip=_pair(settings.get("rate_ip"), (120, 60.0)),
    )
