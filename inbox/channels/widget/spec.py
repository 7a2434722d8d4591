"""The widget's entry in the registry: capabilities, adapter, connection check, public routes."""

from __future__ import annotations

from inbox.channels.config import N_
from inbox.channels.public import PublicRoutes
from inbox.channels.spec import ChannelSpec
from inbox.channels.widget import models as _models  # noqa: F401 - the widget_visitor table
from inbox.channels.widget.check import check
from inbox.channels.widget.schema import CONFIG
from inbox.core.types import Capabilities

CAPABILITIES = Capabilities(
    buttons=True,
    numbered_menus=False,
    media=True,
    html=False,
    edits=False,
    max_text_length=4000,
    rate_per_account=200.0,
    rate_per_chat=20.0,
    address=None,  # an opaque visitor id
    notice_text="messenger",
    link_code="w",
    consent_question=False,  # not asked in the widget (yet), though it has buttons
)

SPEC = ChannelSpec(
    kind="widget",
    label=N_("Website widget"),  # translated where shown (web.filters)
    capabilities=CAPABILITIES,
    adapter="inbox.channels.widget.adapter:WidgetChannel",
    check=check,
    config=CONFIG,
    public=PublicRoutes(prefixes=("/widget.js", "/widget/"), handler="inbox.channels.widget.routes:handle"),
)
