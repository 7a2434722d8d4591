"""Private notes inside a thread: direction "note", never queued for sending; @mentions notify colleagues."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event
from inbox.core.meta import typed
from inbox.models import Author, Customer, Direction, Manager, Message, Thread, utcnow
from inbox.team import Outcome, queued
from inbox.team.assignment import NotFound, TeamError
from inbox.team.notifications import Kind, notify

MENTION = re.compile(r"(?<![\w@])@([\w][\w.\-]*)", re.UNICODE)
MAX_NOTE = 10_000


def handle_of(manager: Manager) -> str:
    """What colleagues type after @: the part of the email before the @ (``olga`` for olga@shop.ru)."""
    return manager.email.split("@", 1)[0].lower()


def _names(manager: Manager) -> set[str]:
    names = {handle_of(manager)}
    if manager.name:
        names.add(manager.name.replace(" ", "").lower())
        names.add(manager.name.split()[0].lower())
    return names


async def mentioned(session: AsyncSession, text: str) -> list[Manager]:
    """Active managers named in ``text`` by handle (email local part), full name without spaces, or first
    name; each at most once."""
    words = {m.group(1).rstrip(".-").lower() for m in MENTION.finditer(text)}
    if not words:
        return []
    managers = (await session.execute(select(Manager).where(Manager.active.is_(True)))).scalars()
    return [m for m in managers if _names(m) & words]


async def add_note(
    session: AsyncSession, thread_id: int, author_id: int, text: str
) -> tuple[Message, Outcome]:
    body = text.strip()
    if not body:
        raise TeamError("a note cannot be empty")
    if len(body) > MAX_NOTE:
        raise TeamError(f"a note is at most {MAX_NOTE} characters")
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    author = await session.get(Manager, author_id)
    if author is None:
        raise TeamError(f"no manager {author_id}")
    note = Message(
        thread_id=thread.id,
        customer_id=thread.customer_id,
        direction=Direction.NOTE,
        author=Author.MANAGER,
        manager_id=author_id,
        text=body,
        meta={"author_name": author.name},
        revisions=[],
        created_at=utcnow(),
    )
    session.add(note)
    await session.flush()
    new = Event("message.new", thread_id=thread.id, message_id=note.id, data={"direction": "note"})
    out = queued(session, Outcome(events=[new]))
    targets = [m for m in await mentioned(session, body) if m.id != author_id]
    if targets:
        meta = typed(dict(note.meta))
        meta["mentions"] = [m.id for m in targets]
        note.meta = dict(meta)
        customer = await session.get(Customer, thread.customer_id)
        where = customer.name if customer and customer.name else f"#{thread.id}"
        for m in targets:
            out.extend(
                await notify(
                    session,
                    m.id,
                    Kind.MENTION,
                    f"{author.name} ({where}): {body[:200]}",
                    thread_id=thread.id,
                    message_id=note.id,
                    actor_id=author_id,
                )
            )
    return note, out
