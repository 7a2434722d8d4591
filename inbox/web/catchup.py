"""SSE catch-up from the database: every live event that names a message carries that message's id as its
SSE ``id``; a browser that reconnects sends it back as ``Last-Event-ID`` and first receives, from the
database, the messages it missed while disconnected (pub/sub keeps nothing for an absent subscriber)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from inbox.core.events import Event
from inbox.db import SessionFactory
from inbox.models import Message, Thread

MAX_REPLAY = 500  # more than this and the browser's own full resync on reconnect is the better answer


def parse_last_event_id(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@dataclass(frozen=True, slots=True)
class Missed:
    cursor: int  # the newest message id now: the stream's first id
    events: list[tuple[int, str]]  # (message id, event JSON), oldest first


async def missed_since(factory: SessionFactory, last_id: int | None) -> Missed:
    async with factory() as session:
        top = (await session.execute(select(func.max(Message.id)))).scalar() or 0
        if last_id is None or last_id >= top:
            return Missed(cursor=top, events=[])
        rows = (
            await session.execute(
                select(Message.id, Message.thread_id, Message.direction, Message.channel, Thread.customer_id)
                .join(Thread, Thread.id == Message.thread_id)
                .where(Message.id > last_id)
                .order_by(Message.id)
                .limit(MAX_REPLAY)
            )
        ).all()
    events = [
        (
            mid,
            Event(
                "message.new",
                thread_id=tid,
                message_id=mid,
                customer_id=cid,
                data={"direction": str(direction), "channel": channel, "replayed": True},
            ).to_json(),
        )
        for mid, tid, direction, channel, cid in rows
    ]
    return Missed(cursor=max(top, events[-1][0] if events else 0), events=events)


def message_id_of(data: str) -> int | None:
    try:
        value = json.loads(data).get("message_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
