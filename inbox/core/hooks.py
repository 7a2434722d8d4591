"""What a channel kind adds to the conversation core, without the core importing any channel.

A channel that needs to see its messages as they are stored (email: conversation key, order link) or to
complete an outgoing draft (email: subject, threading headers) registers :class:`KindHooks` for its kind.
The channel registry registers them; the core loads the registry by name on first use, the way plug-ins
are discovered, so ``inbox.core`` has no import of ``inbox.channels``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Message

if TYPE_CHECKING:
    from inbox.core.outbox import Draft

REGISTRY_MODULE = "inbox.channels.registry"

StoredHook = Callable[[AsyncSession, Message], Awaitable[None]]
DraftHook = Callable[[AsyncSession, int, "Draft"], Awaitable["Draft"]]
ConversationOf = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class KindHooks:
    inbound_stored: StoredHook | None = None  # after an inbound message is added (and flushed)
    prepare_draft: DraftHook | None = None  # before an outbound message is built from a draft
    conversation_of: ConversationOf | None = None  # the conversation key of an outbound message's meta


NO_HOOKS = KindHooks()
_hooks: dict[str, KindHooks] = {}
_loaded = False


def register(kind: str, hooks: KindHooks) -> None:
    _hooks[str(kind)] = hooks


def hooks_for(kind: str) -> KindHooks:
    global _loaded
    if not _loaded:
        importlib.import_module(REGISTRY_MODULE)  # registers the hooks of every channel kind
        _loaded = True
    return _hooks.get(str(kind), NO_HOOKS)
