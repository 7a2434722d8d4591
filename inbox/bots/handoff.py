"""Hand-off to managers: the thread is flagged (``bot_state.handoff``), managers see a system event in the
thread, the customer is told when to expect an answer, and the bot stays silent until a manager hands the
thread back (``hand_back``) or closes it."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bots.config import BotConfig
from inbox.bots.hours import next_opening
from inbox.bots.turn import Turn
from inbox.core.events import Event
from inbox.core.system_events import system_event
from inbox.i18n import _
from inbox.models import BotState, utcnow

REASONS = ("asked", "misunderstood", "button")


def expect_text(cfg: BotConfig, turn: Turn) -> str:
    opening = next_opening(cfg, turn.now)
    if opening is None:
        return _("I have passed your conversation to a manager; they will answer here soon.")
    return _(
        "Our managers are not at work right now. I have passed your conversation on; expect an answer "
        "after %(time)s on %(date)s (%(tz)s)."
    ) % {"time": opening.strftime("%H:%M"), "date": opening.strftime("%d.%m"), "tz": cfg.timezone}


async def hand_off(turn: Turn, reason: str) -> None:
    turn.state.handoff = True
    turn.state.handoff_at = turn.now
    turn.state.handoff_reason = reason
    turn.step = ""
    turn.data.pop("checkout", None)
    turn.data["misunderstood"] = 0
    turn.session.add(
        system_event(
            thread_id=turn.thread.id,
            customer_id=turn.customer.id,
            kind="handoff",
            text=f"bot.handoff:{reason}",
            at=turn.now,
            meta={"reason": reason},
        )
    )
    turn.events.append(
        Event(
            "thread.updated", thread_id=turn.thread.id, customer_id=turn.customer.id, data={"handoff": True}
        )
    )
    turn.say(expect_text(turn.cfg, turn))


async def hand_back(session: AsyncSession, customer_id: int) -> bool:
    """A manager gives the thread back to the bot (or closed it). Returns whether it was handed off."""
    result = await session.execute(
        update(BotState)
        .where(BotState.customer_id == customer_id, BotState.handoff.is_(True))
        .values(
            handoff=False,
            handoff_at=None,
            handoff_reason=None,
            step="",
            version=BotState.version + 1,
            updated_at=utcnow(),
        )
    )
    return bool(getattr(result, "rowcount", 0))
