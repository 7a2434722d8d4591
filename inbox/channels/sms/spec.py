"""The SMS channel's entry in the registry: capabilities, adapter, connection check."""

from __future__ import annotations

from inbox.channels.sms.check import check
from inbox.channels.sms.config import CONFIG
from inbox.channels.sms.segments import DEFAULT_MAX_PARTS
from inbox.channels.spec import ChannelSpec
from inbox.core.types import Capabilities, ChannelKind

CAPABILITIES = Capabilities(
    buttons=False,
    numbered_menus=True,
    media=False,
    html=False,
    edits=False,
    max_text_length=DEFAULT_MAX_PARTS * 153,
    rate_per_account=5.0,
    rate_per_chat=1.0,
    address="phone",
    notice_text="sms",
    link_code="s",
    send_only_providers=("smsru",),  # SMS.ru only sends; Twilio brings replies in
)

SPEC = ChannelSpec(
    kind=ChannelKind.SMS,
    label="SMS",
    capabilities=CAPABILITIES,
    adapter="inbox.channels.sms.adapter:SMSChannel",
    check=check,
    config=CONFIG,
)
