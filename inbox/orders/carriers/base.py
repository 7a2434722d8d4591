"""What every carrier client gives: the parcel's events (oldest first) and a time parser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

MOSCOW = timezone(timedelta(hours=3))  # carriers that send local times without an offset mean Moscow time


@dataclass(frozen=True, slots=True)
class ParcelEvent:
    code: str
    name: str
    city: str | None
    at: datetime
    place: str | None = None  # the office / pickup point where it happened (address), when the carrier says


class Tracker(Protocol):
    """A carrier polled by tracking number (no webhooks)."""

    async def history(self, number: str) -> list[ParcelEvent]: ...


def parse_time(value: object, naive_tz: timezone = UTC) -> datetime:
    """ISO 8601 (with or without an offset; naive means ``naive_tz``), as UTC."""
    text = str(value or "").strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError as exc:
            raise ValueError(f"not a time: {value!r}") from exc
    return (when if when.tzinfo else when.replace(tzinfo=naive_tz)).astimezone(UTC)
