"""What an SMS gateway provider offers the SMS channel, and the provider-neutral payloads it produces.

A provider sends one text, verifies and splits its webhook calls into raw events, and downloads inbound
media. Raw event payloads are provider-neutral dicts (built with :func:`inbound_payload` /
:func:`status_payload` / :func:`other_payload`) so that :class:`inbox.channels.sms.adapter.SMSChannel`
parses them without knowing the provider; the provider's own fields are kept under ``raw`` for replay and
debugging.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

from inbox.channels.sms.providers.forms import FormPairs
from inbox.core.types import WebhookRequest, WebhookResult

DeliveryState = Literal["sent", "delivered", "read", "failed"]

DEFAULT_TIMEOUT = 15.0


class SMSConfigError(ValueError):
    """The account's settings/secrets cannot work (missing credentials, unknown provider)."""


class MediaUnavailable(Exception):
    """Inbound media could not be downloaded (HTTP error, too large, network, provider has none)."""


class SMSProvider(Protocol):
    name: ClassVar[str]

    async def send(self, to: str, text: str, idempotency: str) -> str:
        """Send ``text`` to the E.164 number ``to``; return the provider's message id.
        Raises TransientSendError / PermanentSendError."""

    def split_webhook(self, request: WebhookRequest, form: FormPairs) -> WebhookResult:
        """Verify the call (signature / token) and split it into raw events. Raises WebhookRejected."""

    async def fetch_media(self, url: str) -> bytes:
        """Download inbound media (MMS)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def inbound_payload(
    *,
    provider: str,
    message_id: str,
    sender: str,
    recipient: str,
    text: str,
    media: list[dict[str, str]],
    at: str,
    raw: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "type": "inbound",
        "provider": provider,
        "message_id": message_id,
        "from": sender,
        "to": recipient,
        "text": text,
        "media": media,
        "at": at,
        "raw": dict(raw),
    }


def status_payload(
    *,
    provider: str,
    message_id: str,
    status: str,
    state: DeliveryState | None,
    error: str | None,
    at: str,
    raw: Mapping[str, Any],
) -> dict[str, Any]:
    """``state`` None means an intermediate status (queued, accepted) that changes nothing for us."""
    return {
        "type": "status",
        "provider": provider,
        "message_id": message_id,
        "status": status,
        "state": state,
        "error": error,
        "at": at,
        "raw": dict(raw),
    }


def other_payload(*, provider: str, what: str, raw: Mapping[str, Any], at: str) -> dict[str, Any]:
    """A callback we do not turn into domain items (e.g. SMS.ru call-check statuses): kept, not dropped."""
    return {"type": "other", "provider": provider, "what": what, "at": at, "raw": dict(raw)}


def status_key(message_id: str, status: str) -> str:
    """Raw-event key of a delivery status: a repeated callback for the same status is a no-op."""
    return f"st:{message_id}:{status}"[:254]


def inbound_key(message_id: str) -> str:
    return f"in:{message_id}"[:254]
