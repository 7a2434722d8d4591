"""Typed settings, read once from the environment (``INBOX_*``). Never read at import time."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    default_locale: str = "ru"
    default_region: str = "RU"
    public_url: str | None = None
    timezone: str = "Europe/Moscow"  # how times are shown to managers and customers
    # Outbox pacing (DESIGN §6): per account and per chat, messages per second.
    telegram_rate_per_bot: float = 30.0
    telegram_rate_per_chat: float = 1.0
    vk_rate_per_community: float = 20.0
    outbox_max_attempts: int = 8
    outbox_backoff_cap: float = 300.0
    outbox_lease_seconds: float = 60.0
    inbound_lease_seconds: float = 60.0  # a claimed raw event is retried elsewhere after this
    max_upload_bytes: int = 20 * 1024 * 1024
    max_webhook_bytes: int = 1024 * 1024
    run_workers: bool = True
    bots_enabled: bool = (
        True  # INBOX_BOTS=off: managers only (the shop can also switch the bot off in its config)
    )
    # Outgoing shop webhooks on order changes (signed HMAC-SHA256 with the secret); None = off.
    shop_webhook_url: str | None = None
    shop_webhook_secret: str = ""
    # An order offered a payment and still unpaid this many minutes after it was placed emits "order.unpaid"
    # (once) and gets the built-in reminder; 0 turns it off.
    unpaid_after_minutes: int = 24 * 60
    # Who may read /metrics: addresses or networks (INBOX_METRICS_ALLOW, comma-separated).
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    log_format: str = "text"  # INBOX_LOG_FORMAT: text | json
    # Retention (days, 0 = keep forever): attachments of old messages, raw inbound payloads.
    retention_attachments_days: int = 0
    retention_raw_days: int = 0
    secret_key_generated: bool = field(default=False, compare=False)
    # Key rotation: while set, what was signed or encrypted with the old key still verifies / decrypts.
    secret_key_old: str | None = None
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto we believe (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("INBOX_DATA_DIR") or Path.cwd() / "data").resolve()
        database_url = (
            os.environ.get("INBOX_DATABASE_URL") or f"sqlite+aiosqlite:///{Path.cwd() / 'inbox.sqlite3'}"
        )
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        if database_url.startswith("sqlite://") and "+aiosqlite" not in database_url:
            database_url = database_url.replace("sqlite://", "sqlite+aiosqlite://", 1)
        if not (
            database_url.startswith("sqlite+aiosqlite://") or database_url.startswith("postgresql+asyncpg://")
        ):
            raise SettingsError(
                "INBOX_DATABASE_URL must be sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db, "
                f"got {database_url!r}"
            )
        secret = os.environ.get("INBOX_SECRET_KEY") or ""
        generated = False
        if not secret:
            secret = _persistent_secret(data_dir)
            generated = True
        if len(secret) < 16:
            raise SettingsError("INBOX_SECRET_KEY must be at least 16 characters long")
        locale = os.environ.get("INBOX_DEFAULT_LOCALE", "ru")
        if (
            os.environ.get("INBOX_SHOP_WEBHOOK_URL")
            and len(os.environ.get("INBOX_SHOP_WEBHOOK_SECRET", "")) < 16
        ):
            raise SettingsError(
                "INBOX_SHOP_WEBHOOK_SECRET (16+ characters) is required with INBOX_SHOP_WEBHOOK_URL"
            )
        if locale not in {"ru", "en"}:
            raise SettingsError(f"INBOX_DEFAULT_LOCALE must be ru or en, got {locale!r}")
        return cls(
            database_url=database_url,
            redis_url=os.environ.get("INBOX_REDIS_URL") or None,
            secret_key=secret,
            data_dir=data_dir,
            default_locale=locale,
            default_region=os.environ.get("INBOX_DEFAULT_REGION", "RU"),
            public_url=os.environ.get("INBOX_PUBLIC_URL") or None,
            timezone=_timezone(os.environ.get("INBOX_TIMEZONE") or "Europe/Moscow"),
            telegram_rate_per_bot=_float("INBOX_TELEGRAM_RATE_PER_BOT", 30.0),
            telegram_rate_per_chat=_float("INBOX_TELEGRAM_RATE_PER_CHAT", 1.0),
            vk_rate_per_community=_float("INBOX_VK_RATE", 20.0),
            outbox_max_attempts=_int("INBOX_OUTBOX_MAX_ATTEMPTS", 8),
            outbox_backoff_cap=_float("INBOX_OUTBOX_BACKOFF_CAP", 300.0),
            outbox_lease_seconds=_float("INBOX_OUTBOX_LEASE_SECONDS", 60.0),
            inbound_lease_seconds=_float("INBOX_INBOUND_LEASE_SECONDS", 60.0),
            max_upload_bytes=_int("INBOX_MAX_UPLOAD_BYTES", 20 * 1024 * 1024),
            run_workers=_bool("INBOX_RUN_WORKERS", True),
            bots_enabled=_bool("INBOX_BOTS", True),
            shop_webhook_url=_webhook_url(os.environ.get("INBOX_SHOP_WEBHOOK_URL") or None),
            shop_webhook_secret=os.environ.get("INBOX_SHOP_WEBHOOK_SECRET", ""),
            unpaid_after_minutes=_int("INBOX_UNPAID_AFTER_MINUTES", 24 * 60),
            metrics_allow=_networks("INBOX_METRICS_ALLOW", ("127.0.0.1/32", "::1/128")),
            log_format=log_format(),
            retention_attachments_days=_int("INBOX_RETENTION_ATTACHMENTS_DAYS", 0),
            retention_raw_days=_int("INBOX_RETENTION_RAW_DAYS", 0),
            secret_key_generated=generated,
            secret_key_old=_old_secret(os.environ.get("INBOX_SECRET_KEY_OLD") or None),
            trusted_proxies=_networks("INBOX_TRUSTED_PROXIES", ()),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """The key new signatures use, then the old one while a rotation is under way."""
        return (self.secret_key, self.secret_key_old) if self.secret_key_old else (self.secret_key,)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _old_secret(secret: str | None) -> str | None:
    if secret is not None and len(secret) < 16:
        raise SettingsError("INBOX_SECRET_KEY_OLD must be at least 16 characters long")
    return secret


def _networks(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    import ipaddress

    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    out: list[str] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise SettingsError(f"{name}: {part!r} is not an IP address or network") from exc
    return tuple(out)


def log_format() -> str:
    """INBOX_LOG_FORMAT (read before anything else logs, so also outside Settings)."""
    value = (os.environ.get("INBOX_LOG_FORMAT") or "text").strip().lower()
    if value not in {"text", "json"}:
        raise SettingsError(f"INBOX_LOG_FORMAT must be text or json, got {value!r}")
    return value


def _webhook_url(url: str | None) -> str | None:
    if url is not None and not (url.startswith("http://") or url.startswith("https://")):
        raise SettingsError(f"INBOX_SHOP_WEBHOOK_URL must be an http(s) URL, got {url!r}")
    return url


def _timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"INBOX_TIMEZONE is not a known time zone: {name!r}") from exc
    return name


def _persistent_secret(data_dir: Path) -> str:
    """A random key kept in the data dir, so sessions survive restarts without configuration."""
    path = data_dir / ".secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
