"""Signing with ``INBOX_SECRET_KEY``: HMAC-SHA256 per purpose. During a key rotation
(``INBOX_SECRET_KEY_OLD`` set) signatures made with the old key still verify; new ones use the new key."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keyring:
    current: str
    old: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.current,) if not self.old else (self.current, self.old)

    def sign(self, purpose: str, message: str) -> str:
        return _mac(self.current, purpose, message)

    def verify(self, purpose: str, message: str, signature: str) -> bool:
        ok = False
        for key in self.keys:  # no early exit: the same work whichever key matches
            ok |= hmac.compare_digest(_mac(key, purpose, message), signature)
        return ok


def _mac(key: str, purpose: str, message: str) -> str:
    return hmac.new(key.encode(), f"{purpose}\x00{message}".encode(), hashlib.sha256).hexdigest()
