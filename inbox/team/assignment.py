"""Who answers a thread, and in which state it is: assign / unassign, round robin, status, snooze."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event
from inbox.core.system_events import system_event
from inbox.models import Customer, Manager, Message, Thread, ThreadStatus, utcnow
from inbox.team import Outcome, queued
from inbox.team.notifications import Kind, notify
from inbox.team.presence import online_manager_ids
from inbox.team.settings import ROUND_ROBIN, get_value, set_value


class TeamError(ValueError):
    """A team action that cannot be done; the message says why."""


class NotFound(LookupError):
    pass


async def _thread(session: AsyncSession, thread_id: int) -> Thread:
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


def event_message(thread: Thread, actor_id: int | None, kind: str, text: str, **meta: object) -> Message:
    """A visible line in the thread history ("Olga assigned Ivan"): direction event, never sent."""
    return system_event(
        thread_id=thread.id,
        customer_id=thread.customer_id,
        kind=kind,
        text=text,
        actor_id=actor_id,
        meta=meta,
    )


async def assign(
    session: AsyncSession, thread_id: int, assignee_id: int | None, actor_id: int | None
) -> Outcome:
    """Assign the thread to a manager (None: unassign). Tells the assignee unless they assigned themselves."""
    thread = await _thread(session, thread_id)
    assignee: Manager | None = None
    if assignee_id is not None:
        assignee = await session.get(Manager, assignee_id)
        if assignee is None or not assignee.active:
            raise TeamError(f"manager {assignee_id} does not exist or is deactivated")
    if thread.assignee_id == assignee_id:
        return Outcome()
    thread.assignee_id = assignee_id
    actor = await session.get(Manager, actor_id) if actor_id else None
    who = actor.name if actor else "auto"
    text = f"{who} → {assignee.name}" if assignee else f"{who} → —"
    session.add(event_message(thread, actor_id, "assign", text, assignee_id=assignee_id))
    await session.flush()
    updated = Event("thread.updated", thread_id=thread.id, data={"assignee_id": assignee_id})
    out = queued(session, Outcome(events=[updated]))
    if assignee is not None and assignee_id != actor_id:
        customer = await session.get(Customer, thread.customer_id)
        name = customer.name if customer and customer.name else f"#{thread.id}"
        out.extend(
            await notify(session, assignee.id, Kind.ASSIGNED, name, thread_id=thread.id, actor_id=actor_id)
        )
    return out


async def set_status(session: AsyncSession, thread_id: int, status: str, actor_id: int | None) -> Outcome:
    """open / waiting / closed. Closing or reopening also ends a snooze; a history line records it."""
    try:
        new = ThreadStatus(status)
    except ValueError as exc:
        raise TeamError(f"unknown thread status {status!r}: use open, waiting or closed") from exc
    thread = await _thread(session, thread_id)
    if thread.status == new:
        return Outcome()
    thread.status = new
    thread.snoozed_until = None
    session.add(event_message(thread, actor_id, "status", str(new), status=str(new)))
    await session.flush()
    return queued(
        session, Outcome(events=[Event("thread.updated", thread_id=thread.id, data={"status": str(new)})])
    )


async def snooze(
    session: AsyncSession, thread_id: int, until: datetime | None, actor_id: int | None
) -> Outcome:
    """Hide the thread from default views until ``until`` (None wakes it now)."""
    thread = await _thread(session, thread_id)
    if until is not None:
        if until.tzinfo is None:
            raise TeamError("snooze time must carry a time zone")
        if until <= utcnow():
            raise TeamError("snooze time must be in the future")
    thread.snoozed_until = until
    label = until.isoformat(timespec="minutes") if until else "—"
    session.add(event_message(thread, actor_id, "snooze", label, until=until.isoformat() if until else None))
    await session.flush()
    snoozed = Event("thread.updated", thread_id=thread.id, data={"snoozed": until is not None})
    return queued(session, Outcome(events=[snoozed]))


async def auto_assign(session: AsyncSession, thread_id: int, at: datetime | None = None) -> Outcome:
    """Round robin among online managers, when the team setting is on and the thread has no assignee.

    The rotation position lives in ``team_setting`` so every process continues the same rotation.
    """
    rr = await get_value(session, ROUND_ROBIN)
    if not rr.get("enabled"):
        return Outcome()
    thread = await session.get(Thread, thread_id)
    if thread is None or thread.assignee_id is not None:
        return Outcome()
    online = await online_manager_ids(session, at)
    if not online:
        return Outcome()
    last = rr.get("last_manager_id")
    later = [m for m in online if isinstance(last, int) and m > last]
    chosen = later[0] if later else online[0]
    rr["last_manager_id"] = chosen
    await set_value(session, ROUND_ROBIN, rr)
    return await assign(session, thread_id, chosen, None)


async def active_managers(session: AsyncSession) -> list[Manager]:
    rows = await session.execute(select(Manager).where(Manager.active.is_(True)).order_by(Manager.name))
    return list(rows.scalars())
