"""The one list of channel kinds: kind -> :class:`ChannelSpec`. A new channel is a package in
``channels/`` (adapter, spec, check) plus its line here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from inbox.channels.email.spec import SPEC as EMAIL
from inbox.channels.sms.spec import SPEC as SMS
from inbox.channels.spec import ChannelSpec
from inbox.channels.telegram.spec import SPEC as TELEGRAM
from inbox.channels.vk.spec import SPEC as VK
from inbox.channels.widget.spec import SPEC as WIDGET
from inbox.core import kinds
from inbox.core.types import AccountConfig, Channel

if TYPE_CHECKING:
    from inbox.settings import Settings

AdapterFactory = Callable[[AccountConfig, "Settings"], Channel]

SPECS: dict[str, ChannelSpec] = {str(spec.kind): spec for spec in (TELEGRAM, VK, EMAIL, SMS, WIDGET)}
KINDS: tuple[str, ...] = tuple(SPECS)  # the one list of channel kinds


def is_kind(kind: str) -> bool:
    return kind in SPECS


# Demo accounts (settings.demo) of any kind talk to the in-process demo adapter.
DEMO = "inbox.channels.demo.adapter:DemoChannel"

for _spec in SPECS.values():
    kinds.register(_spec.info())


def build_channel(account: AccountConfig, settings: Settings) -> Channel:
    spec = SPECS.get(str(account.kind))
    target = DEMO if account.settings.get("demo") else (spec.adapter if spec else None)
    if target is None:
        raise LookupError(f"no adapter for channel kind {account.kind!r}")
    module_name, _, attr = target.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attr)
    return factory(account, settings)
