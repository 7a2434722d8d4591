"""Loyalty levels by total spent (the customer card's lifetime value): thresholds and discounts are settings.
The level's discount applies to orders made by managers and by the bot."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.i18n import _
from inbox.sales.config import Level, SalesConfig, load
from inbox.sales.metrics import customer_stats


@dataclass(frozen=True, slots=True)
class Standing:
    spent: int  # kopecks
    level: Level | None
    next_level: Level | None

    @property
    def discount(self) -> int:
        return self.level.discount if self.level else 0

    @property
    def left_to_next(self) -> int | None:
        return None if self.next_level is None else max(self.next_level.threshold - self.spent, 0)


def standing_for(spent: int, config: SalesConfig) -> Standing:
    level: Level | None = None
    following: Level | None = None
    for candidate in config.levels:  # sorted by threshold
        if spent >= candidate.threshold:
            level = candidate
        elif following is None:
            following = candidate
    return Standing(spent, level, following)


async def spent_by(session: AsyncSession, customer_id: int) -> int:
    stats = customer_stats()
    value = (
        await session.execute(select(stats.c.spent).where(stats.c.customer_id == customer_id))
    ).scalar_one_or_none()
    return int(value or 0)


async def standing(session: AsyncSession, customer_id: int, config: SalesConfig | None = None) -> Standing:
    return standing_for(await spent_by(session, customer_id), config or await load(session))


def discounted(amount: int, percent: int) -> int:
    """``amount`` (kopecks) less ``percent``, rounded half up to the kopeck."""
    return amount - (amount * percent + 50) // 100


def default_level_names() -> list[str]:
    """The default levels' names, translated (also how the catalog learns them)."""
    return [_("Bronze"), _("Silver"), _("Gold"), _("Platinum")]


async def loyalty_price(session: AsyncSession, customer_id: int, price: int) -> int:
    """The unit price for this customer: less their level's discount (orders by managers and the bot)."""
    percent = (await standing(session, customer_id)).discount
    return discounted(price, percent) if percent else price
