"""What the customer card and the order panel show of repeat sales: tasks, loyalty level, segments."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.sales import config as sales_config
from inbox.sales import loyalty, tasks


async def card_context(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    cfg = await sales_config.load(session)
    return {
        "tasks": await tasks.list_tasks(session, customer_id=customer_id, include_done=False),
        "standing": await loyalty.standing(session, customer_id, cfg),
    }
