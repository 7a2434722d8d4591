"""Channel kind -> adapter factory. A new channel is one module in ``channels/`` plus one line here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from inbox.core.types import AccountConfig, Channel, ChannelKind

if TYPE_CHECKING:
    from inbox.settings import Settings

AdapterFactory = Callable[[AccountConfig, "Settings"], Channel]

# kind -> "module:factory"; imported lazily so that a missing optional client never breaks the others.
ADAPTERS: dict[ChannelKind, str] = {
    ChannelKind.TELEGRAM: "inbox.channels.telegram.adapter:TelegramChannel",
    ChannelKind.SMS: "inbox.channels.sms.adapter:SMSChannel",
    ChannelKind.VK: "inbox.channels.vk.adapter:VKChannel",
    ChannelKind.EMAIL: "inbox.channels.email.adapter:EmailChannel",
}

DEMO = "inbox.channels.demo.adapter:DemoChannel"


def build_channel(account: AccountConfig, settings: Settings) -> Channel:
    target = DEMO if account.settings.get("demo") else ADAPTERS.get(account.kind)
    if target is None:
        raise LookupError(f"no adapter for channel kind {account.kind!r}")
    module_name, _, attr = target.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return factory(account, settings)
