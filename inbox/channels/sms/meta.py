"""SMS's part of ``Message.meta``; the stored JSON is what wave 1 wrote."""

from __future__ import annotations

from typing import TypedDict


class SMSMeta(TypedDict, total=False):
    sender_not_a_phone: bool  # inbound from a short code or an alphanumeric sender, kept as is
    attachments_not_sent: int  # outbound: files SMS could not carry (noted in the text)
