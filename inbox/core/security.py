"""Passwords (argon2), API tokens (random, stored as SHA-256), constant-time comparisons."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's first choice for argon2id (m = 19 MiB, t = 2, p = 1): argon2-cffi's default takes 64 MiB per check,
# which alone lifted a serving process from 130 to 187 MB at each sign-in. Hashes made with other parameters
# still verify and are re-hashed at the next successful sign-in (``needs_rehash``).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters than today's (an older release's or argon2-cffi's default)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@cache
def dummy_hash() -> str:
    """Verified instead of a real hash when the email is unknown, so that the answer takes as long."""
    return _hasher.hash(secrets.token_urlsafe(16))


def new_api_token() -> str:
    return "inb_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters long")
