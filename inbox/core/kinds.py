"""What the conversation core knows about each channel kind, without importing any channel.

For every kind, :class:`KindInfo` holds its label, its :class:`Capabilities` (bots, order notices and the
outbox read these instead of testing the kind) and its :class:`KindHooks`: a channel that needs to see its
messages as they are stored (email: conversation key, order link) or to complete an outgoing draft (email:
subject, threading headers) supplies them. The channel registry (``inbox.channels.registry``, the one list
of kinds) registers every kind; the core loads it by name on first use, the way plug-ins are discovered,
so ``inbox.core`` has no import of ``inbox.channels``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.types import Capabilities
from inbox.models import Message

if TYPE_CHECKING:
    from inbox.core.outbox import Draft

REGISTRY_MODULE = "inbox.channels.registry"

StoredHook = Callable[[AsyncSession, Message], Awaitable[None]]
DraftHook = Callable[[AsyncSession, int, "Draft"], Awaitable["Draft"]]
ConversationOf = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class KindHooks:
    # an inbound message about to be stored (no id yet; what is staged before it is flushed)
    inbound_stored: StoredHook | None = None
    prepare_draft: DraftHook | None = None  # before an outbound message is built from a draft
    conversation_of: ConversationOf | None = None  # the conversation key of an outbound message's meta


NO_HOOKS = KindHooks()


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: str
    label: str  # for the UI: a brand name, or an English msgid the web layer translates
    capabilities: Capabilities = field(default_factory=Capabilities)
    hooks: KindHooks = NO_HOOKS


_kinds: dict[str, KindInfo] = {}
_loaded = False


def register(info: KindInfo) -> None:
    _kinds[str(info.kind)] = info


def _load() -> None:
    global _loaded
    if not _loaded:
        importlib.import_module(REGISTRY_MODULE)  # registers every channel kind
        _loaded = True


def kind_info(kind: str) -> KindInfo:
    """The registered kind; an unknown kind gets a plain text channel's defaults."""
    _load()
    return _kinds.get(str(kind)) or KindInfo(str(kind), str(kind))


def all_kinds() -> list[KindInfo]:
    _load()
    return list(_kinds.values())


def capabilities(kind: str) -> Capabilities:
    return kind_info(kind).capabilities


def hooks_for(kind: str) -> KindHooks:
    return kind_info(kind).hooks


def kinds_with(wanted: Callable[[Capabilities], bool]) -> tuple[str, ...]:
    """The registered kinds whose capabilities are ``wanted``, in registry order: code outside a channel's
    package asks this instead of naming kinds, so a new channel gets the behaviour by declaring it."""
    return tuple(info.kind for info in all_kinds() if wanted(info.capabilities))


def link_codes() -> dict[str, str]:
    """kind -> the letter naming it in short signed links (:attr:`Capabilities.link_code`)."""
    return {info.kind: info.capabilities.link_code for info in all_kinds() if info.capabilities.link_code}


class ByKind(Mapping[str, str]):
    """A read-only mapping built from the registered kinds when read (the registry loads on first use, so
    a module may hold one at import time)."""

    def __init__(self, build: Callable[[], dict[str, str]]) -> None:
        self._build = build

    def __getitem__(self, key: str) -> str:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())
