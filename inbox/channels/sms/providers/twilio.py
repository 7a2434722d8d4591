"""Twilio Programmable Messaging over plain httpx (no Twilio SDK).

Wire format (twilio.com/docs/messaging/api/message-resource, /docs/usage/webhooks/webhooks-security):

- Send: ``POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP basic auth
  ``AccountSid:AuthToken``, form fields ``To``, ``From`` (or ``MessagingServiceSid``), ``Body``,
  ``StatusCallback``. Success: 201 JSON with ``sid`` and ``status``. Errors: JSON
  ``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``.
- Inbound SMS/MMS: form POST with ``MessageSid``, ``From``, ``To``, ``Body``, ``NumMedia``,
  ``MediaUrl{N}``, ``MediaContentType{N}``; answered with TwiML (an empty ``<Response/>`` sends nothing).
- Status callback: form POST with ``MessageSid``, ``MessageStatus`` (queued, sending, sent, delivered,
  undelivered, failed, read...) and ``ErrorCode`` on failure.
- Every webhook carries ``X-Twilio-Signature`` = base64(HMAC-SHA1(AuthToken, URL + for each POST parameter
  sorted by name: name + value)). Repeated names contribute each value, values sorted (as twilio-python's
  RequestValidator does). Twilio's own validators try the URL with and without the default port; so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from inbox.channels.sms.providers.base import (
    DeliveryState,
    MediaUnavailable,
    SMSConfigError,
    inbound_key,
    inbound_payload,
    now_iso,
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

DEFAULT_API_BASE = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# REST error codes (twilio.com/docs/api/errors) that name the recipient or the sender: retrying cannot help.
# Any other 4xx is permanent too; these only get a clearer reason.
PERMANENT_REASONS: dict[int, str] = {
    20003: "authentication failed: check account_sid / auth_token",
    21211: "invalid 'To' phone number",
    21408: "sending to this region is not enabled on the Twilio account",
    21606: "the 'From' number cannot send SMS",
    21610: "recipient has unsubscribed (replied STOP)",
    21612: "Twilio cannot route to this number",
    21614: "'To' is not a mobile number",
}
TRANSIENT_CODES = frozenset({20429})  # Too Many Requests

# MessageStatus -> our delivery state; intermediate states map to None.
STATUS_STATES: dict[str, DeliveryState | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
# Delivery error codes seen in status callbacks (twilio.com/docs/api/errors/300xx).
DELIVERY_ERRORS: dict[str, str] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
}


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a form POST to ``url`` with ``params``."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    data = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port (Twilio signs either form)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default_port = 443 if parts.scheme == "https" else 80
    without = urlunsplit((parts.scheme, prefix + host, parts.path, parts.query, parts.fragment))
    with_port = urlunsplit(
        (
            parts.scheme,
            f"{prefix}{host}:{parts.port or default_port}",
            parts.path,
            parts.query,
            parts.fragment,
        )
    )
    variants = [url]
    for candidate in (without, with_port):
        if candidate not in variants:
            variants.append(candidate)
    return variants


def public_variants(url: str, bases: Sequence[str]) -> list[str]:
    """``url`` re-rooted at each public base URL: behind a proxy we do not see the URL Twilio signed."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [base + tail for base in bases]


def verify_signature(auth_token: str, urls: Sequence[str], params: FormPairs, signature: str) -> bool:
    if not signature:
        return False
    ok = False
    for url in urls:
        for candidate in url_variants(url):
            expected = compute_signature(auth_token, candidate, params)
            ok |= hmac.compare_digest(expected.encode(), signature.encode())
    return ok


MAX_MEDIA = 10  # Twilio attaches at most 10 media to a message; a larger NumMedia is not believed


class TwilioProvider:
    name: ClassVar[str] = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str | None,
        messaging_service_sid: str | None,
        api_base: str | None,
        status_callback_url: str | None,
        public_bases: Sequence[str],
        client: httpx.AsyncClient,
        max_media_bytes: int,
    ) -> None:
        if not account_sid or not auth_token:
            raise SMSConfigError("twilio needs secrets account_sid and auth_token")
        if not sender and not messaging_service_sid:
            raise SMSConfigError(
                "twilio needs settings 'from' (E.164 number or sender id) or messaging_service_sid"
            )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.status_callback_url = status_callback_url
        self.public_bases = [base.rstrip("/") for base in public_bases if base]
        self.client = client
        self.max_media_bytes = max_media_bytes

    # ---- send ----------------------------------------------------------------------------------------

    async def send(self, to: str, text: str, idempotency: str) -> str:
        form = {"To": to, "Body": text}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        if self.sender:
            form["From"] = self.sender
        if self.status_callback_url:
            form["StatusCallback"] = self.status_callback_url
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            response = await self.client.post(url, data=form, auth=(self.account_sid, self.auth_token))
        except httpx.TransportError as exc:
            raise TransientSendError(f"twilio unreachable: {exc.__class__.__name__}: {exc}") from exc
        return self._sid_from(response)

    def _sid_from(self, response: httpx.Response) -> str:
        body = _json(response)
        if response.is_success:
            sid = body.get("sid")
            if isinstance(sid, str) and sid:
                return sid
            raise PermanentSendError(
                f"twilio accepted the message but returned no sid: {response.text[:200]}"
            )
        code = body.get("code")
        message = str(body.get("message") or response.reason_phrase or "")
        reason = f"twilio {response.status_code}" + (f" error {code}" if code else "") + f": {message}"
        if response.status_code == 429 or code in TRANSIENT_CODES:
            raise TransientSendError(reason, retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise TransientSendError(reason, retry_after=_retry_after(response))
        if isinstance(code, int) and code in PERMANENT_REASONS:
            reason = f"{reason} ({PERMANENT_REASONS[code]})"
        raise PermanentSendError(reason)

    # ---- webhooks ------------------------------------------------------------------------------------

    def split_webhook(self, request: WebhookRequest, form: FormPairs) -> WebhookResult:
        urls = [request.url, *public_variants(request.url, self.public_bases)]
        if not verify_signature(self.auth_token, urls, form, request.headers.get("x-twilio-signature", "")):
            raise WebhookRejected(403, "bad signature")
        params = dict(form)
        at = now_iso()
        if request.sub_path == "status" or _looks_like_status(params):
            return self._status(params, at)
        if request.sub_path != "":
            raise WebhookRejected(404, f"unknown SMS webhook path {request.sub_path!r}")
        return self._inbound(params, at)

    def _inbound(self, params: dict[str, str], at: str) -> WebhookResult:
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
        if not sid:
            raise WebhookRejected(400, "inbound message without MessageSid")
        if not params.get("From"):
            raise WebhookRejected(400, "inbound message without From")
        media: list[dict[str, str]] = []
        try:
            count = int(params.get("NumMedia") or 0)
        except ValueError as exc:
            raise WebhookRejected(400, f"NumMedia is not a number: {params.get('NumMedia')!r}") from exc
        for index in range(max(0, min(count, MAX_MEDIA))):
            url = params.get(f"MediaUrl{index}")
            if url:
                ctype = params.get(f"MediaContentType{index}") or "application/octet-stream"
                media.append({"url": url, "content_type": ctype})
        payload = inbound_payload(
            provider=self.name,
            message_id=sid,
            sender=params["From"],
            recipient=params.get("To", ""),
            text=params.get("Body", ""),
            media=media,
            at=at,
            raw=params,
        )
        return WebhookResult(
            events=(RawEvent(inbound_key(sid), payload),), body=EMPTY_TWIML, content_type="text/xml"
        )

    def _status(self, params: dict[str, str], at: str) -> WebhookResult:
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if not sid or not status:
            raise WebhookRejected(400, "status callback without MessageSid / MessageStatus")
        state = STATUS_STATES.get(status)
        error: str | None = None
        if state == "failed":
            code = params.get("ErrorCode") or ""
            text = params.get("ErrorMessage") or DELIVERY_ERRORS.get(code, "")
            error = f"twilio {status}" + (f" error {code}" if code else "") + (f": {text}" if text else "")
        payload = status_payload(
            provider=self.name, message_id=sid, status=status, state=state, error=error, at=at, raw=params
        )
        return WebhookResult(events=(RawEvent(status_key(sid, status), payload),), body="", status=200)

    # ---- media ---------------------------------------------------------------------------------------

    async def fetch_media(self, url: str) -> bytes:
        # Credentials only go to the configured API host; Twilio answers media with a redirect to storage,
        # and httpx drops the Authorization header on a cross-origin redirect.
        auth = (self.account_sid, self.auth_token) if _same_origin(url, self.api_base) else None
        try:
            async with self.client.stream("GET", url, auth=auth, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise MediaUnavailable(f"twilio media {url} answered {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_media_bytes:
                        raise MediaUnavailable(
                            f"twilio media {url} is larger than {self.max_media_bytes} bytes"
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise MediaUnavailable(f"twilio media {url} unreachable: {exc}") from exc


def _looks_like_status(params: dict[str, str]) -> bool:
    """A status callback posted to the inbound URL (a common console misconfiguration)."""
    status = (params.get("MessageStatus") or "").lower()
    return "Body" not in params and status not in ("", "received")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
