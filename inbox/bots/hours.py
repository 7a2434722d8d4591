"""Working hours: is the shop open now, and when does it open next (in the shop's time zone)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from inbox.bots.config import DAYS, BotConfig


def is_open(cfg: BotConfig, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(cfg.timezone))
    hours = cfg.week.get(DAYS[local.weekday()])
    return hours is not None and hours[0] <= local.time() < hours[1]


def next_opening(cfg: BotConfig, now: datetime) -> datetime | None:
    """The next moment the shop opens (shop-local, aware), or None when it is open now or never opens."""
    if is_open(cfg, now):
        return None
    tz = ZoneInfo(cfg.timezone)
    local = now.astimezone(tz)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        hours = cfg.week.get(DAYS[day.weekday()])
        if hours is None:
            continue
        start = datetime.combine(day, hours[0], tzinfo=tz)
        if start > local:
            return start
    return None
