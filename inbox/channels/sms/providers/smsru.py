"""SMS.ru over plain httpx.

Wire format (sms.ru/api/send, sms.ru/api/status, sms.ru/api/callback; the code list below matches the one
SMS.ru publishes and client libraries reproduce, e.g. the SMSRuStatusCode enum of the npm SMS.ru clients):

- Send: ``POST {api_base}/sms/send`` form ``api_id``, ``to`` (digits, no plus), ``msg``, ``json=1``,
  optional ``from`` (an approved sender name) and ``test=1``. Answer:
  ``{"status": "OK", "status_code": 100, "sms": {"79991234567": {"status": "OK", "status_code": 100,
  "sms_id": "000000-10000000"}}, "balance": 4122.56}``; a per-number failure is
  ``{"status": "ERROR", "status_code": 207, "status_text": "..."}`` and a request failure has the same
  fields at the top level.
- Callbacks: SMS.ru POSTs a form with fields ``data[0]``, ``data[1]``... (up to 100 per call), each one
  entry of ``\\n``-separated lines: ``sms_status\\n<sms_id>\\n<status_code>\\n<unix_time>`` for delivery
  statuses (``callcheck_status`` entries belong to call-based phone checks). The handler must answer the
  plain text ``100`` or SMS.ru repeats the call. SMS.ru offers no inbound SMS to an API account, so this
  provider is outbound + receipts only.

Authenticity: a callback carries no signature we can rely on, so the callback URL is registered with a
per-account secret in its query (``?token=...``, account secret ``webhook_token``), compared in constant
time. Client libraries also check a ``hash`` field = sha256(api_id + the data entries concatenated); we
verify it too when the account sets ``verify_hash`` (off by default: it is not in the documentation we
could check, and a wrong rejection would make SMS.ru retry for days).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from inbox.channels.sms.providers.base import (
    DeliveryState,
    MediaUnavailable,
    SMSConfigError,
    now_iso,
    other_payload,
    status_key,
    status_payload,
)
from inbox.channels.sms.providers.forms import FormPairs
from inbox.core.types import (
    PermanentSendError,
    RawEvent,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)

DEFAULT_API_BASE = "https://sms.ru"

# Request / per-number codes of sms/send (sms.ru/api/send, "Коды ответа").
# Retrying cannot help: wrong credentials, number, text or sender; the account must be fixed first.
PERMANENT_CODES: dict[int, str] = {
    200: "wrong api_id",
    201: "not enough money on the SMS.ru balance",
    202: "wrong recipient number or no route to it",
    203: "no message text",
    204: "sender name not approved by SMS.ru",
    205: "message too long (over 8 SMS)",
    207: "no route to deliver messages to this number",
    208: "wrong 'time' parameter",
    209: "number is in the account's stop list",
    210: "GET used where POST is required",
    211: "method not found",
    212: "message text must be UTF-8",
    213: "too many recipients",
    214: "number is abroad (account sends to Russian numbers only)",
    215: "number is in SMS.ru's spam stop list (the recipient complained)",
    216: "message contains a forbidden word",
    300: "wrong token (expired, or the IP changed)",
    301: "wrong api_id or login/password",
    302: "account not confirmed",
}
# Limits and outages: the same request can succeed later.
TRANSIENT_CODES: dict[int, str] = {
    206: "daily sending limit reached",
    220: "service temporarily unavailable",
    230: "daily message limit to this number exceeded",
    231: "limit of identical messages to this number per minute exceeded",
    232: "limit of identical messages to this number per day exceeded",
    233: "limit of repeated code messages to this number exceeded",
    500: "server error, repeat the request",
    503: "too many messages to this country in a short time",
    505: "too many messages from one IP address",
}

# Delivery status codes in sms_status callbacks (sms.ru/api/status).
STATUS_STATES: dict[int, DeliveryState | None] = {
    -1: None,  # message not found
    100: None,  # in SMS.ru's queue
    101: None,  # being passed to the operator
    102: "sent",  # sent, in transit
    103: "delivered",
    104: "failed",
    105: "failed",
    106: "failed",
    107: "failed",
    108: "failed",
    110: "read",  # read (Viber)
    150: "failed",
}
STATUS_ERRORS: dict[int, str] = {
    104: "cannot be delivered: lifetime expired",
    105: "cannot be delivered: deleted by the operator",
    106: "cannot be delivered: phone failure",
    107: "cannot be delivered: unknown reason",
    108: "cannot be delivered: rejected",
    150: "cannot be delivered: no route to this number",
}

_DATA_FIELD = re.compile(r"^data(?:\[(\d*)\])?$")


def callback_hash(api_id: str, entries: list[str]) -> str:
    return hashlib.sha256((api_id + "".join(entries)).encode("utf-8")).hexdigest()


def data_entries(form: FormPairs) -> list[str]:
    """The ``data[N]`` / ``data[]`` fields in their order (numbered ones by number)."""
    numbered: list[tuple[int, int, str]] = []
    for position, (name, value) in enumerate(form):
        match = _DATA_FIELD.match(name)
        if match:
            index = int(match.group(1)) if match.group(1) else position
            numbered.append((index, position, value))
    return [value for _, _, value in sorted(numbered)]


class SmsRuProvider:
    name: ClassVar[str] = "smsru"

    def __init__(
        self,
        *,
        api_id: str,
        sender: str | None,
        api_base: str | None,
        webhook_token: str | None,
        verify_hash: bool,
        test: bool,
        client: httpx.AsyncClient,
    ) -> None:
        if not api_id:
            raise SMSConfigError("smsru needs secret api_id")
        self.api_id = api_id
        self.sender = sender
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.webhook_token = webhook_token
        self.verify_hash = verify_hash
        self.test = test
        self.client = client

    # ---- send ----------------------------------------------------------------------------------------

    async def send(self, to: str, text: str, idempotency: str) -> str:
        # SMS.ru has no idempotency parameter; the outbox's own guard (no resend of a message that
        # already has an external id) is all we have.
        number = to.lstrip("+")
        form = {"api_id": self.api_id, "to": number, "msg": text, "json": "1"}
        if self.sender:
            form["from"] = self.sender
        if self.test:
            form["test"] = "1"
        try:
            response = await self.client.post(f"{self.api_base}/sms/send", data=form)
        except httpx.TransportError as exc:
            raise TransientSendError(f"sms.ru unreachable: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSendError(f"sms.ru answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientSendError(f"sms.ru answered non-JSON (HTTP {response.status_code})") from exc
        if not isinstance(body, dict):
            raise TransientSendError("sms.ru answered an unexpected JSON document")
        if body.get("status") != "OK":
            raise _error(body)
        sms = body.get("sms")
        entry: Any = None
        if isinstance(sms, dict):
            entry = sms.get(number)
            if entry is None and len(sms) == 1:
                entry = next(iter(sms.values()))
        if not isinstance(entry, dict):
            raise PermanentSendError(f"sms.ru answered without a result for {number}: {response.text[:200]}")
        if entry.get("status") != "OK":
            raise _error(entry)
        sms_id = entry.get("sms_id")
        if not isinstance(sms_id, str) or not sms_id:
            raise PermanentSendError(
                f"sms.ru accepted the message but returned no sms_id: {response.text[:200]}"
            )
        return sms_id

    # ---- webhooks ------------------------------------------------------------------------------------

    def split_webhook(self, request: WebhookRequest, form: FormPairs) -> WebhookResult:
        if not self.webhook_token:
            raise WebhookRejected(403, "SMS.ru webhook token is not configured for this account")
        given = request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), self.webhook_token.encode()):
            raise WebhookRejected(403, "bad token")
        if request.sub_path not in ("", "status"):
            raise WebhookRejected(404, f"unknown SMS webhook path {request.sub_path!r}")
        entries = data_entries(form)
        if self.verify_hash and entries:
            given_hash = dict(form).get("hash", "")
            expected = callback_hash(self.api_id, entries)
            if not hmac.compare_digest(given_hash.lower().encode(), expected.encode()):
                raise WebhookRejected(403, "bad hash")
        at = now_iso()
        events = tuple(self._event(entry, at) for entry in entries)
        return WebhookResult(events=events, body="100", content_type="text/plain")

    def _event(self, entry: str, at: str) -> RawEvent:
        lines = entry.replace("\r\n", "\n").split("\n")
        kind = lines[0].strip()
        if kind == "sms_status":
            parsed = _sms_status(lines)
            if parsed is not None:
                sms_id, code, when = parsed
                state = STATUS_STATES.get(code, "failed" if 104 <= code < 200 else None)
                error = (
                    f"sms.ru {code}: {STATUS_ERRORS.get(code, 'cannot be delivered')}"
                    if state == "failed"
                    else None
                )
                payload = status_payload(
                    provider=self.name,
                    message_id=sms_id,
                    status=str(code),
                    state=state,
                    error=error,
                    at=when or at,
                    raw={"entry": entry},
                )
                return RawEvent(status_key(sms_id, str(code)), payload)
            kind = "sms_status:malformed"  # kept raw for a human to look at, never dropped
        digest = hashlib.sha256(entry.encode("utf-8")).hexdigest()[:40]
        return RawEvent(
            f"other:{digest}", other_payload(provider=self.name, what=kind, raw={"entry": entry}, at=at)
        )

    async def fetch_media(self, url: str) -> bytes:
        raise MediaUnavailable("SMS.ru messages carry no media")


def _error(body: dict[str, Any]) -> Exception:
    try:
        code = int(body.get("status_code") or 0)
    except (TypeError, ValueError):
        code = 0
    text = str(body.get("status_text") or "")
    if code in TRANSIENT_CODES:
        return TransientSendError(f"sms.ru {code}: {text or TRANSIENT_CODES[code]}")
    if code in PERMANENT_CODES:
        return PermanentSendError(f"sms.ru {code}: {text or PERMANENT_CODES[code]}")
    if code >= 500:
        return TransientSendError(f"sms.ru {code}: {text or 'server-side limit or error'}")
    return PermanentSendError(f"sms.ru {code}: {text or 'request refused'}")


def _sms_status(lines: list[str]) -> tuple[str, int, str | None] | None:
    """(sms_id, status_code, time) of an ``sms_status`` entry, or None when it is malformed."""
    if len(lines) < 3 or not lines[1].strip():
        return None
    try:
        code = int(lines[2].strip())
    except ValueError:
        return None
    when = _unix_to_iso(lines[3].strip()) if len(lines) > 3 else None
    return lines[1].strip(), code, when


def _unix_to_iso(raw: str) -> str | None:
    try:
        return datetime.fromtimestamp(int(raw), UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return None
