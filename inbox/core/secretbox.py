"""Channel and provider secrets at rest (bot tokens, passwords, API keys): encrypted with Fernet under a key
derived from ``INBOX_SECRET_KEY`` by HKDF-SHA256. While ``INBOX_SECRET_KEY_OLD`` is set, secrets sealed with
the old key still open; ``rotate`` re-seals everything under the new key (``inbox secret rotate``).

A sealed value is the JSON object ``{"$fernet": "<token>"}`` in the same column; a plain object (written by
an older version, or by hand) is read as is and sealed by ``seal_plaintext`` at start-up."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.models import ChannelAccount

MARK = "$fernet"
_INFO = b"inbox secrets at rest v1"


class SecretsUnreadable(RuntimeError):
    """Sealed with a key we do not have: INBOX_SECRET_KEY changed without INBOX_SECRET_KEY_OLD."""


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    def __init__(self, secret: str, old: str | None = None) -> None:
        self._current = _fernet(secret)
        self._all = MultiFernet([self._current, *([_fernet(old)] if old else [])])

    @staticmethod
    def is_sealed(stored: dict[str, Any]) -> bool:
        return set(stored) == {MARK} and isinstance(stored.get(MARK), str)

    def seal(self, secrets: dict[str, Any]) -> dict[str, Any]:
        if not secrets:
            return {}
        return {MARK: self._current.encrypt(json.dumps(secrets).encode()).decode()}

    def open(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        stored = dict(stored or {})
        if not self.is_sealed(stored):
            return stored
        try:
            value = json.loads(self._all.decrypt(str(stored[MARK]).encode()))
        except InvalidToken as exc:
            raise SecretsUnreadable(
                "channel secrets were encrypted with another INBOX_SECRET_KEY: set INBOX_SECRET_KEY_OLD "
                "to the previous key and run `inbox secret rotate`"
            ) from exc
        return dict(value)

    def reseal(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Under the current key (whichever key sealed it, or none)."""
        return self.seal(self.open(stored))


async def seal_all(factory: SessionFactory, box: SecretBox, *, only_plaintext: bool) -> int:
    """Seal every channel account's secrets under the current key; returns how many rows changed.
    Reads first: at start-up, with nothing to seal, no write lock is taken."""
    async with factory() as session:
        rows = (await session.execute(select(ChannelAccount.id, ChannelAccount.secrets))).all()
    todo = [
        account_id
        for account_id, stored in rows
        if stored and not (only_plaintext and box.is_sealed(dict(stored)))
    ]
    if not todo:
        return 0
    changed = 0
    async with transaction(factory) as session:
        for row in (
            await session.execute(select(ChannelAccount).where(ChannelAccount.id.in_(todo)))
        ).scalars():
            stored = dict(row.secrets or {})
            if not stored or (only_plaintext and box.is_sealed(stored)):
                continue
            row.secrets = box.reseal(stored)
            changed += 1
    return changed
