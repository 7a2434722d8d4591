"""The context of the thread view (messages, customer, channels, team work), shared by the inbox and team
views."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import identities_of, preferred_kind
from inbox.core.threads import mark_read, thread_messages
from inbox.db import transaction
from inbox.models import BotState, ChannelAccount, Customer, Thread
from inbox.team import labels
from inbox.team.assignment import active_managers
from inbox.team.notes import handle_of
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


async def team_context(session: AsyncSession, thread: Thread) -> dict[str, Any]:
    """What the thread page shows about team work: colleagues, labels, the assignee."""
    team = await active_managers(session)
    return {
        "team": team,
        "handles": {m.id: handle_of(m) for m in team},
        "mention_people": [{"handle": handle_of(m), "name": m.name} for m in team],  # @ autocomplete
        "all_labels": await labels.all_labels(session),
        "thread_labels": (await labels.thread_labels(session, [thread.id])).get(thread.id, []),
        "customer_labels": await labels.customer_labels(session, thread.customer_id),
        "assignee": next((m for m in team if m.id == thread.assignee_id), None),
        "bot_handoff": bool(
            (
                await session.execute(
                    select(BotState.handoff).where(BotState.customer_id == thread.customer_id)
                )
            ).scalar_one_or_none()
        ),
    }


async def thread_context(request: AnyRequest, thread_id: int, *, mark: bool = True) -> dict[str, Any]:
    async with transaction(ctx(request).factory) as session:
        thread = await session.get(Thread, thread_id)
        if thread is None:
            raise NotFoundException(i18n._("No such conversation."))
        customer = await session.get(Customer, thread.customer_id)
        assert customer is not None
        messages = await thread_messages(session, thread_id)
        identities = await identities_of(session, customer.id)
        if mark:
            await mark_read(session, thread_id)
        accounts = {a.id: a for a in (await session.execute(select(ChannelAccount))).scalars()}
        team = await team_context(session, thread)
    preferred = preferred_kind(customer, thread)
    kinds = list(dict.fromkeys(i.kind for i in identities if not i.blocked))
    return {
        "thread": thread,
        "customer": customer,
        "messages": messages,
        "identities": identities,
        "accounts": accounts,
        "channels": kinds,
        "preferred": preferred if preferred in kinds else (kinds[0] if kinds else None),
        "manager": manager_of(request),
        **team,
    }
