"""SMS gateway providers behind :class:`inbox.channels.sms.adapter.SMSChannel`: one module per provider."""

from __future__ import annotations

from inbox.channels.sms.providers.base import MediaUnavailable, SMSConfigError, SMSProvider

PROVIDER_NAMES = ("twilio", "smsru")

__all__ = ["PROVIDER_NAMES", "MediaUnavailable", "SMSConfigError", "SMSProvider"]
