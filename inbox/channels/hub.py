"""One adapter instance per channel account, built from its database row and rebuilt when the row changes."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from sqlalchemy import select

from inbox import logs
from inbox.channels.registry import build_channel
from inbox.channels.spec import ChannelRuntime
from inbox.core.events import EventBus
from inbox.core.secretbox import SecretBox
from inbox.core.types import AccountConfig, Channel
from inbox.db import SessionFactory
from inbox.models import ChannelAccount
from inbox.settings import Settings
from inbox.textsafe import INT64_MAX

log = logging.getLogger(__name__)
CONFIG_TTL = 2.0


def account_config(row: ChannelAccount, box: SecretBox) -> AccountConfig:
    secrets = box.open(row.secrets)
    for value in secrets.values():
        logs.register_secret(value)  # credentials never reach a log line
    return AccountConfig(
        id=row.id,
        kind=row.kind,
        name=row.name,
        settings=dict(row.settings),
        secrets=secrets,
    )


def _fingerprint(cfg: AccountConfig) -> str:
    return json.dumps([cfg.kind, cfg.name, cfg.settings, cfg.secrets], sort_keys=True, default=str)


class ChannelHub:
    def __init__(self, factory: SessionFactory, settings: Settings, bus: EventBus | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.runtime = ChannelRuntime(factory=factory, bus=bus)
        self.box = SecretBox(settings.secret_key, settings.secret_key_old)
        self._cache: dict[int, tuple[str, AccountConfig, Channel]] = {}
        self._lock = asyncio.Lock()
        self._configs: dict[int, tuple[float, AccountConfig | None]] = {}

    async def enabled_accounts(self) -> list[AccountConfig]:
        async with self.factory() as session:
            rows = await session.execute(select(ChannelAccount).where(ChannelAccount.enabled.is_(True)))
            return [account_config(r, self.box) for r in rows.scalars()]

    async def config(self, account_id: int) -> AccountConfig | None:
        """The account's configuration, re-read at most every CONFIG_TTL seconds (hot path of webhooks,
        the processor and the dispatcher; CLI changes take effect within that time)."""
        if not 0 < account_id <= INT64_MAX:
            return None
        now = time.monotonic()
        cached = self._configs.get(account_id)
        if cached is not None and now - cached[0] < CONFIG_TTL:
            return cached[1]
        async with self.factory() as session:
            row = await session.get(ChannelAccount, account_id)
            cfg = account_config(row, self.box) if row is not None and row.enabled else None
        if cfg is None:
            # Ids that do not exist (anyone can post to /webhooks/<kind>/<any id>) must not fill memory.
            self._configs.pop(account_id, None)
        else:
            self._configs[account_id] = (now, cfg)
        return cfg

    def config_cache_size(self) -> int:
        return len(self._configs)

    async def get(self, account_id: int, cfg: AccountConfig | None = None) -> Channel | None:
        """The adapter of an enabled account, or None if there is no such account."""
        cfg = cfg or await self.config(account_id)
        if cfg is None:
            return None
        return await self.for_config(cfg)

    async def for_config(self, cfg: AccountConfig) -> Channel:
        fp = _fingerprint(cfg)
        async with self._lock:
            cached = self._cache.get(cfg.id)
            if cached is not None and cached[0] == fp:
                return cached[2]
            channel = build_channel(cfg, self.settings)
            bind = getattr(channel, "bind", None)
            if callable(bind):  # adapters that keep state on our side (widget) get the database and bus
                bind(self.runtime)
            self._cache[cfg.id] = (fp, cfg, channel)
        if cached is not None:
            await _close_quietly(cached[2])
        return channel

    def cached(self, account_id: int) -> Channel | None:
        entry = self._cache.get(account_id)
        return entry[2] if entry else None

    async def close(self) -> None:
        async with self._lock:
            entries, self._cache = list(self._cache.values()), {}
        for _, _, channel in entries:
            await _close_quietly(channel)


async def _close_quietly(channel: Channel) -> None:
    try:
        await channel.close()
    except Exception:  # closing a dead transport must not stop the others
        log.exception("closing channel adapter failed")
