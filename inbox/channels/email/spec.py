"""The Email channel's entry in the registry: capabilities, adapter, connection check."""

from __future__ import annotations

from inbox.channels.email.check import check
from inbox.channels.email.config import CONFIG
from inbox.channels.email.links import on_email_message
from inbox.channels.email.reply import conversation_of, prepare_email_draft
from inbox.channels.spec import ChannelSpec
from inbox.core.kinds import KindHooks
from inbox.core.types import Capabilities, ChannelKind

CAPABILITIES = Capabilities(
    buttons=False,
    numbered_menus=True,
    media=True,
    html=True,
    edits=False,
    max_text_length=1_000_000,
    rate_per_account=5.0,
    rate_per_chat=5.0,
    address="email",
    notice_text="email",
    link_code="e",
    subject=True,
    list_unsubscribe=True,
    history_sync=True,
)

SPEC = ChannelSpec(
    kind=ChannelKind.EMAIL,
    label="Email",
    capabilities=CAPABILITIES,
    adapter="inbox.channels.email.adapter:EmailChannel",
    check=check,
    config=CONFIG,
    hooks=KindHooks(
        inbound_stored=on_email_message, prepare_draft=prepare_email_draft, conversation_of=conversation_of
    ),
)
