"""Signed tokens of the widget, made and checked with the Keyring (``INBOX_SECRET_KEY``, rotation-aware).

- visitor token: ``<account id>.<visitor id, base64url>.<signature>``, kept by the browser (localStorage):
  it names one visitor of one widget key, so history survives reloads and new tabs;
- upload reference: an uploaded file's stored path, name and type, bound to the visitor who uploaded it;
- signed customer id: the shop's site signs its own user id with the widget key's secret
  (HMAC-SHA256, hex), so a logged-in buyer is the same visitor on every device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from inbox.keys import Keyring

VISITOR = "widget-visitor"
UPLOAD = "widget-upload"
_TOKEN = re.compile(r"(\d{1,18})\.([A-Za-z0-9_-]{1,400})\.([0-9a-f]{64})")
_USER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,100}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Visitor:
    account_id: int
    external_id: str


def visitor_token(keys: Keyring, visitor: Visitor) -> str:
    body = f"{visitor.account_id}.{_b64(visitor.external_id.encode())}"
    return f"{body}.{keys.sign(VISITOR, body)}"


def read_visitor_token(keys: Keyring, token: str) -> Visitor | None:
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        return None
    body = f"{match.group(1)}.{match.group(2)}"
    if not keys.verify(VISITOR, body, match.group(3)):
        return None
    try:
        external_id = _unb64(match.group(2)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return Visitor(int(match.group(1)), external_id)


def upload_ref(keys: Keyring, visitor: Visitor, info: dict[str, Any]) -> str:
    body = _b64(json.dumps({**info, "v": visitor.external_id, "a": visitor.account_id}).encode())
    return f"{body}.{keys.sign(UPLOAD, body)}"


def read_upload_ref(keys: Keyring, visitor: Visitor, ref: str) -> dict[str, Any] | None:
    body, _, sig = ref.partition(".")
    if not body or not sig or len(ref) > 2000 or not keys.verify(UPLOAD, body, sig):
        return None
    try:
        info = json.loads(_unb64(body))
    except ValueError:
        return None
    if (
        not isinstance(info, dict)
        or info.get("v") != visitor.external_id
        or info.get("a") != visitor.account_id
    ):
        return None
    return info


def valid_user_id(user_id: str) -> bool:
    return bool(_USER_ID.fullmatch(user_id))


def sign_user(secret: str, user_id: str) -> str:
    """What the shop's site computes: HMAC-SHA256(key = the widget secret, message = its user id), hex."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_signature_ok(secret: str, user_id: str, signature: str) -> bool:
    return (
        bool(secret)
        and valid_user_id(user_id)
        and hmac.compare_digest(sign_user(secret, user_id), signature.lower())
    )
