"""The Telegram channel's entry in the registry: capabilities, adapter, connection check."""

from __future__ import annotations

from inbox.channels.spec import ChannelSpec
from inbox.channels.telegram.check import check
from inbox.channels.telegram.config import CONFIG
from inbox.core.types import Capabilities, ChannelKind

CAPABILITIES = Capabilities(
    buttons=True,
    numbered_menus=False,
    media=True,
    html=False,
    edits=True,
    max_text_length=4096,
    rate_per_account=30.0,
    rate_per_chat=1.0,
    contact_sharing=True,
    link_code="t",
    consent_question=True,
)

SPEC = ChannelSpec(
    kind=ChannelKind.TELEGRAM,
    label="Telegram",
    capabilities=CAPABILITIES,
    adapter="inbox.channels.telegram.adapter:TelegramChannel",
    check=check,
    config=CONFIG,
)
