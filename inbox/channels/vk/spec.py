"""The VK channel's entry in the registry: capabilities, adapter, connection check."""

from __future__ import annotations

from inbox.channels.spec import ChannelSpec
from inbox.channels.vk.check import check
from inbox.channels.vk.config import CONFIG
from inbox.core.types import Capabilities, ChannelKind

CAPABILITIES = Capabilities(
    buttons=True,
    numbered_menus=False,
    media=True,
    html=False,
    edits=False,
    max_text_length=4096,
    rate_per_account=20.0,
    rate_per_chat=1.0,
    link_code="v",
    consent_question=True,
    write_permission=True,  # message_allow / message_deny
)

SPEC = ChannelSpec(
    kind=ChannelKind.VK,
    label="VK",
    capabilities=CAPABILITIES,
    adapter="inbox.channels.vk.adapter:VKChannel",
    check=check,
    config=CONFIG,
)
