"""Team work on the shared inbox: assignment, states, notes and mentions, notifications, presence, canned
replies, labels, team settings, managers and the audit log. Services take a session and queue their events
on it (``queued``), published after the commit; the :class:`Outcome` they return records what was queued."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event, emit, manager_channel


@dataclass(slots=True)
class Outcome:
    """What a service queued: events for every inbox (``events``) and for one manager's stream (``personal``:
    (id, event)). Already on the session: callers do not publish it (they commit through
    ``EventBus.transaction``)."""

    events: list[Event] = field(default_factory=list)
    personal: list[tuple[int, Event]] = field(default_factory=list)

    def extend(self, other: Outcome) -> Outcome:
        self.events.extend(other.events)
        self.personal.extend(other.personal)
        return self


def queued(session: AsyncSession, outcome: Outcome) -> Outcome:
    """Queue a service's own events on the session (published after commit) and return the record. A service
    that extends its outcome with another service's does not queue those again."""
    emit(session, *outcome.events)
    for manager_id, event in outcome.personal:
        emit(session, event, channel=manager_channel(manager_id))
    return outcome
