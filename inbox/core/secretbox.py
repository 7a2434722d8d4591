"""Channel and provider secrets at rest (bot tokens, passwords, API keys of channel accounts, payment
provider accounts and carrier accounts): encrypted with Fernet under a key derived from ``INBOX_SECRET_KEY``
by HKDF-SHA256. While ``INBOX_SECRET_KEY_OLD`` is set, secrets sealed with
the old key still open; ``rotate`` re-seals everything under the new key (``inbox secret rotate``).

A sealed value is the JSON object ``{"$fernet": "<token>"}`` in the same column; a plain object (written by
an older version, or by hand) is read as is and sealed by ``seal_plaintext`` at start-up."""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from inbox import logs
from inbox.db import SessionFactory, transaction
from inbox.models import CarrierAccount, ChannelAccount, PaymentAccount

if TYPE_CHECKING:
    from inbox.settings import Settings

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
                "secrets were encrypted with another INBOX_SECRET_KEY: set INBOX_SECRET_KEY_OLD "
                "to the previous key and run `inbox secret rotate`"
            ) from exc
        return dict(value)

    def reseal(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Under the current key (whichever key sealed it, or none)."""
        return self.seal(self.open(stored))


# Every table with a ``secrets`` column sealed by the box: channel, payment provider and carrier accounts.
SEALED_TABLES: tuple[Any, ...] = (ChannelAccount, PaymentAccount, CarrierAccount)


@lru_cache(maxsize=8)
def _box(secret: str, old: str | None) -> SecretBox:
    return SecretBox(secret, old)


def box_for(settings: Settings) -> SecretBox:
    """The box of these settings (``INBOX_SECRET_KEY`` and, during a rotation, ``INBOX_SECRET_KEY_OLD``)."""
    return _box(settings.secret_key, settings.secret_key_old)


def open_secrets(settings: Settings, row: Any) -> dict[str, Any]:
    """A payment or carrier account's secrets in clear (sealed, or plain as an older version stored them);
    each value is registered with the log masking, so it never reaches a log line."""
    opened = box_for(settings).open(row.secrets)
    for value in opened.values():
        logs.register_secret(value)
    return opened


async def seal_all(factory: SessionFactory, box: SecretBox, *, only_plaintext: bool) -> int:
    """Seal the secrets of every channel, payment provider and carrier account under the current key;
    returns how many rows changed. Reads first: at start-up, with nothing to seal, no write lock is taken."""
    todo: dict[Any, list[int]] = {}
    async with factory() as session:
        for model in SEALED_TABLES:
            rows = (await session.execute(select(model.id, model.secrets))).all()
            ids = [
                row_id
                for row_id, stored in rows
                if stored and not (only_plaintext and box.is_sealed(dict(stored)))
            ]
            if ids:
                todo[model] = ids
    if not todo:
        return 0
    changed = 0
    async with transaction(factory) as session:
        for model, ids in todo.items():
            for row in (await session.execute(select(model).where(model.id.in_(ids)))).scalars():
                stored = dict(row.secrets or {})
                if not stored or (only_plaintext and box.is_sealed(stored)):
                    continue
                row.secrets = box.reseal(stored)
                changed += 1
    return changed
