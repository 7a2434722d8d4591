"""SMS gateway providers behind :class:`inbox.channels.sms.SMSChannel`: one small module per provider."""

from __future__ import annotations

from inbox.channels.sms_providers.base import MediaUnavailable, SMSConfigError, SMSProvider

PROVIDER_NAMES = ("twilio", "smsru")

__all__ = ["PROVIDER_NAMES", "MediaUnavailable", "SMSConfigError", "SMSProvider"]
