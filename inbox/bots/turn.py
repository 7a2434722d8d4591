"""One bot turn: the context a handler works with, and how its replies become channel messages.

Handlers call ``turn.say(text, rows)`` with abstract options. Telegram and VK get native buttons carrying
signed payloads; SMS and email get a numbered text menu ("1. …"), and the state remembers the last menu so
that a reply "2" picks option 2 on any channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.bots.config import BotConfig
from inbox.bots.payloads import Action, sign
from inbox.core.events import Event
from inbox.core.kinds import capabilities
from inbox.core.types import Button
from inbox.models import BotState, Customer, Message, Thread
from inbox.settings import Settings

MAX_ROWS = 6  # VK inline keyboards: 6 rows, 10 buttons, labels up to 40 characters
MAX_BUTTONS = 10
MAX_LABEL = 40


@dataclass(frozen=True, slots=True)
class Option:
    label: str
    action: Action | None = None
    url: str | None = None


Rows = list[list[Option]]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...]
    menu: list[list[str]]  # [[action, arg], ...] in the numbering order


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def fit(rows: Rows) -> Rows:
    """Keep within the strictest keyboard limits (VK inline): 6 rows, 10 buttons."""
    out: Rows = []
    count = 0
    for row in rows:
        if len(out) == MAX_ROWS:
            break
        kept = row[: MAX_BUTTONS - count]
        if kept:
            out.append(kept)
            count += len(kept)
    return out


def render(secret: str, customer_id: int, channel: str, text: str, rows: Rows) -> Reply:
    rows = fit(rows)
    menu = [[o.action.name, o.action.arg] for row in rows for o in row if o.action is not None]
    caps = capabilities(channel)
    if caps.buttons:
        buttons = tuple(
            tuple(
                Button(_label(o.label), url=o.url)
                if o.url
                else Button(_label(o.label), payload=sign(secret, customer_id, o.action or Action("menu")))
                for o in row
            )
            for row in rows
        )
        return Reply(text, buttons, menu)
    lines: list[str] = []
    n = 0
    for row in rows:
        for o in row:
            if o.url:
                lines.append(f"{o.label}: {o.url}")
            elif caps.numbered_menus:
                n += 1
                lines.append(f"{n}. {o.label}")
            else:
                lines.append(o.label)
    full = text + ("\n\n" + "\n".join(lines) if lines else "")
    return Reply(full, (), menu)


@dataclass(slots=True)
class Turn:
    session: AsyncSession
    settings: Settings
    cfg: BotConfig
    state: BotState
    customer: Customer
    thread: Thread
    channel: str  # the channel kind we answer on
    locale: str
    now: datetime
    message: Message | None = None
    data: dict[str, Any] = field(default_factory=dict)  # working copy of state.data
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    understood: bool = True

    def say(self, text: str, rows: Rows | None = None) -> None:
        reply = render(self.settings.secret_key, self.customer.id, self.channel, text, rows or [])
        self.replies.append(reply)
        self.data["menu"] = reply.menu

    @property
    def step(self) -> str:
        return self.state.step

    @step.setter
    def step(self, value: str) -> None:
        self.state.step = value
