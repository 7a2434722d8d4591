"""Adding and editing channel accounts through their kind's config schema: the one path behind
``inbox channel add <kind>`` and the admin channel pages. Callers record the audit entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels.config import AddedAccount, ChannelConfig, ConfigError
from inbox.channels.registry import SPECS
from inbox.core.secretbox import SecretBox
from inbox.i18n import _
from inbox.models import ChannelAccount
from inbox.settings import Settings

NAME_MAX = 100


def config_of(kind: str) -> ChannelConfig:
    spec = SPECS.get(kind)
    if spec is None or spec.config is None:
        raise ConfigError(_("unknown channel kind {got}"), None, got=repr(kind))
    return spec.config


async def _check_name(session: AsyncSession, name: str, account_id: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ConfigError(_("{field} must not be empty"), "name")
    if len(name) > NAME_MAX:
        raise ConfigError(_("{field} must be at most {n} characters"), "name", n=NAME_MAX)
    query = select(ChannelAccount.id).where(ChannelAccount.name == name)
    if account_id is not None:
        query = query.where(ChannelAccount.id != account_id)
    if (await session.execute(query)).first() is not None:
        raise ConfigError(_("a channel account named {got} already exists"), "name", got=repr(name))
    return name


async def create_account(
    session: AsyncSession,
    box: SecretBox,
    kind: str,
    name: str,
    raw: Mapping[str, Any],
    app: Settings | None = None,
) -> tuple[ChannelAccount, dict[str, Any], dict[str, Any]]:
    """Validate ``raw`` against the kind's schema and add the account (flushed). Returns the row with the
    settings and the opened secrets (for ``after_add``). Raises ConfigError."""
    config = config_of(kind)
    name = await _check_name(session, name)
    settings, secrets = config.parse(raw, app=app)
    row = ChannelAccount(kind=kind, name=name, settings=settings, secrets=box.seal(secrets), state={})
    session.add(row)
    await session.flush()
    return row, settings, secrets


async def update_account(
    session: AsyncSession,
    box: SecretBox,
    row: ChannelAccount,
    name: str,
    raw: Mapping[str, Any],
    app: Settings | None = None,
) -> list[str]:
    """Validate ``raw`` (a blank secret keeps the stored one) and update the account. Keys the schema does not
    manage (``demo``) stay. Returns the names of the changed fields, never their values."""
    config = config_of(row.kind)
    name = await _check_name(session, name, row.id)
    old_secrets = box.open(row.secrets)
    settings, secrets = config.parse(raw, keep_secrets=old_secrets, app=app)
    managed = {f.store_key for f in config.fields if not f.secret} | set(settings)
    new_settings = {k: v for k, v in row.settings.items() if k not in managed} | settings
    new_secrets = old_secrets | secrets
    changed: list[str] = []
    if name != row.name:
        changed.append("name")
    for f in config.fields:
        where = new_secrets if f.secret else new_settings
        before = old_secrets if f.secret else row.settings
        if f.stored_in != "none" and where.get(f.store_key) != before.get(f.store_key):
            changed.append(f.name)
    row.name = name
    if new_settings != row.settings:
        row.settings = new_settings
    if new_secrets != old_secrets:
        row.secrets = box.seal(new_secrets)
    await session.flush()
    return changed


def after_add_lines(
    row: ChannelAccount, settings: dict[str, Any], secrets: dict[str, Any], app: Settings
) -> Sequence[str]:
    config = config_of(row.kind)
    if config.after_add is None:
        return []
    added = AddedAccount(row.id, row.kind, row.name, settings, secrets, app)
    return config.after_add(added)
