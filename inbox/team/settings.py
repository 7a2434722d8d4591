"""Team settings an admin changes at run time, stored in ``team_setting`` (one JSON value per key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.i18n import _
from inbox.models import TeamSetting

ROUND_ROBIN = "round_robin"  # {"enabled": bool, "last_manager_id": int | None}
WAITING_ALERT = "waiting_alert"  # {"minutes": int}; 0 turns the alert off
RESPONSE_TARGET = "response_target"  # {"minutes": int}: the list colours waits past it; 0 = no colour
ASSIGN_ON_REPLY = "assign_on_reply"  # {"enabled": bool}: answering an unassigned thread takes it

DEFAULT_WAITING_MINUTES = 15
DEFAULT_RESPONSE_MINUTES = 15


class BadSetting(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class TeamOptions:
    round_robin: bool
    waiting_minutes: int
    response_minutes: int = DEFAULT_RESPONSE_MINUTES
    assign_on_reply: bool = True


async def get_value(session: AsyncSession, key: str) -> dict[str, Any]:
    row = await session.get(TeamSetting, key)
    return dict(row.value) if row is not None else {}


async def set_value(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    row = await session.get(TeamSetting, key)
    if row is None:
        session.add(TeamSetting(key=key, value=value))
    else:
        row.value = value


async def options(session: AsyncSession) -> TeamOptions:
    rr = await get_value(session, ROUND_ROBIN)
    wait = await get_value(session, WAITING_ALERT)
    minutes = wait.get("minutes", DEFAULT_WAITING_MINUTES)
    target = await get_value(session, RESPONSE_TARGET)
    on_reply = await get_value(session, ASSIGN_ON_REPLY)
    return TeamOptions(
        round_robin=bool(rr.get("enabled")),
        waiting_minutes=int(minutes),
        response_minutes=int(target.get("minutes", DEFAULT_RESPONSE_MINUTES)),
        assign_on_reply=bool(on_reply.get("enabled", True)),
    )


async def set_options(
    session: AsyncSession,
    *,
    round_robin: bool,
    waiting_minutes: int,
    response_minutes: int | None = None,
    assign_on_reply: bool | None = None,
) -> None:
    if waiting_minutes < 0 or waiting_minutes > 24 * 60:
        raise BadSetting("waiting alert minutes must be between 0 and 1440")
    if response_minutes is not None and not 0 <= response_minutes <= 24 * 60:
        raise BadSetting(_("The response-time target must be between 0 and 1440 minutes."))
    rr = await get_value(session, ROUND_ROBIN)
    rr["enabled"] = round_robin
    await set_value(session, ROUND_ROBIN, rr)
    await set_value(session, WAITING_ALERT, {"minutes": waiting_minutes})
    if response_minutes is not None:
        await set_value(session, RESPONSE_TARGET, {"minutes": response_minutes})
    if assign_on_reply is not None:
        await set_value(session, ASSIGN_ON_REPLY, {"enabled": assign_on_reply})
