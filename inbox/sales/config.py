"""Run-time settings of repeat sales (an admin edits them; kept as one ``team_setting`` row, ``sales``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import TeamSetting

KEY = "sales"


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    threshold: int  # total spent, kopecks, from which the level holds
    discount: int  # percent


@dataclass(frozen=True, slots=True)
class SalesConfig:
    # RFM scores: recency (days since the last order), frequency (orders), monetary (total spent, kopecks).
    # A score is 3 at or within the first threshold, 2 within the second, else 1.
    rfm_recency_days: tuple[int, int] = (30, 90)
    rfm_frequency: tuple[int, int] = (5, 2)
    rfm_monetary: tuple[int, int] = (50_000_00, 10_000_00)
    attribution_days: int = 7  # orders placed this long after a broadcast count for it
    cart_reminder_hours: int = 3
    cross_sell_days: int = 3  # after the order is completed
    quiet_start: int = 21  # shop's local hour; nothing marketing is sent from quiet_start to quiet_end
    quiet_end: int = 9
    # Discounts start at 0: prices change only once the shop sets its own (admin → repeat sales).
    levels: tuple[Level, ...] = field(
        default=(
            Level("Bronze", 0, 0),
            Level("Silver", 10_000_00, 0),
            Level("Gold", 50_000_00, 0),
            Level("Platinum", 150_000_00, 0),
        )
    )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["levels"] = [asdict(level) for level in self.levels]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SalesConfig:
        base = cls()
        values: dict[str, Any] = {}
        for name in (
            "attribution_days",
            "cart_reminder_hours",
            "cross_sell_days",
            "quiet_start",
            "quiet_end",
        ):
            if name in data:
                values[name] = int(data[name])
        for name in ("rfm_recency_days", "rfm_frequency", "rfm_monetary"):
            if name in data:
                a, b = (int(x) for x in data[name])
                values[name] = (a, b)
        if "levels" in data:
            values["levels"] = tuple(
                sorted(
                    (Level(str(x["name"]), int(x["threshold"]), int(x["discount"])) for x in data["levels"]),
                    key=lambda level: level.threshold,
                )
            )
        return SalesConfig(**{**asdict(base), "levels": base.levels, **values})


async def load(session: AsyncSession) -> SalesConfig:
    row = await session.get(TeamSetting, KEY)
    return SalesConfig.from_json(dict(row.value)) if row is not None else SalesConfig()


async def save(session: AsyncSession, config: SalesConfig) -> None:
    row = await session.get(TeamSetting, KEY)
    if row is None:
        session.add(TeamSetting(key=KEY, value=config.to_json()))
    else:
        row.value = config.to_json()
    await session.flush()
