"""Email's part of ``Message.meta``: the threading data in ``meta["email"]`` (the core's
:class:`~inbox.core.meta.EmailPart`, which ingest also writes) plus the top-level keys the email adapter and
the reply planner use. The stored JSON is what wave 1 wrote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from inbox.core.meta import EmailPart


class OrderLink(TypedDict, total=False):
    how: str  # subject / body / thread / manual / unlinked
    number: int | None
    order_id: int
    manager_id: int


class EmailMeta(TypedDict, total=False):
    email: EmailPart
    # inbound letters (the adapter's parse)
    auto: bool  # an auto-reply or bulk mail: bots do not answer it
    auto_reason: str | None
    full_text: str  # the whole text, quotes included (``text`` has them stripped)
    subject: str
    to: list[str]
    cc: list[str]
    reply_to: str | None
    folder: str | None
    # outbound letters (the reply planner and the draft hook)
    in_reply_to: str | None
    references: list[str]
    email_html: str
    list_unsubscribe: str
    # the order a letter was linked to
    order_link: OrderLink
    order_warnings: list[str]


def email_part(meta: Mapping[str, Any]) -> EmailPart:
    """``meta["email"]`` as its shape (empty when absent or not a dict)."""
    part = meta.get("email")
    return cast(EmailPart, part) if isinstance(part, dict) else {}
