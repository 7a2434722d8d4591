"""What the registry holds for each channel kind: :class:`ChannelSpec`.

A kind's spec module (``channels/<kind>/spec.py``) imports no client library: the adapter is named as
``"module:attr"`` and imported only when an account of that kind is built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from inbox.channels.config import ChannelConfig
from inbox.channels.public import PublicRoutes
from inbox.core.events import EventBus
from inbox.core.kinds import NO_HOOKS, KindHooks, KindInfo
from inbox.core.types import Capabilities
from inbox.db import SessionFactory
from inbox.models import ChannelAccount

CheckFn = Callable[[httpx.AsyncClient, ChannelAccount], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    kind: str  # the registry key; the built-in kinds name it with ChannelKind
    label: str  # for the UI
    capabilities: Capabilities
    adapter: str  # "module:factory", the factory taking (AccountConfig, Settings)
    check: CheckFn | None = None  # "test connection": a short description of what answered, or CheckFailed
    hooks: KindHooks = NO_HOOKS  # what the kind adds to the core's ingest and outbox
    public: PublicRoutes | None = None  # routes the kind serves to the public (outside the managers' session)
    config: ChannelConfig | None = None  # the one schema behind `inbox channel add <kind>` and the admin form

    def info(self) -> KindInfo:
        return KindInfo(str(self.kind), self.label, self.capabilities, self.hooks)


@dataclass(frozen=True, slots=True)
class ChannelRuntime:
    """What an adapter that keeps its side of the conversation on our servers (a website widget) may use:
    the database and the live transport. The hub hands it to every adapter that defines ``bind(runtime)``."""

    factory: SessionFactory
    bus: EventBus | None = None
