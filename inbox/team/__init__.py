"""Team work on the shared inbox: assignment, states, notes and mentions, notifications, presence, canned
replies, labels, team settings, managers and the audit log. Services take a session and return what to
publish; callers publish after commit."""

from __future__ import annotations

from dataclasses import dataclass, field

from inbox.core.events import Event, EventBus, manager_channel


@dataclass(slots=True)
class Outcome:
    """Events for every inbox (``events``) and for one manager's stream (``personal``: (id, event))."""

    events: list[Event] = field(default_factory=list)
    personal: list[tuple[int, Event]] = field(default_factory=list)

    def extend(self, other: Outcome) -> Outcome:
        self.events.extend(other.events)
        self.personal.extend(other.personal)
        return self


async def publish(bus: EventBus, outcome: Outcome) -> None:
    await bus.publish(*outcome.events)
    for manager_id, event in outcome.personal:
        await bus.publish(event, channel=manager_channel(manager_id))
