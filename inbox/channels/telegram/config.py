"""The Telegram channel's config schema: ``inbox channel add telegram`` options and the admin form."""

from __future__ import annotations

import re
import secrets as pysecrets
from collections.abc import Sequence
from typing import Any

from inbox.channels.config import N_, AddedAccount, ChannelConfig, ConfigError, ConfigField, Stored, Values
from inbox.i18n import _


def build(v: Values) -> Stored:
    token = str(v["token"]).strip()
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
        raise ConfigError(
            _("{field} does not look like a Telegram bot token (digits:letters, from @BotFather)"), "token"
        )
    mode = v["mode"]
    secret = v["secret"]
    if mode == "webhook":
        if not v["public_url"]:
            raise ConfigError(_("{mode} webhook needs {public_url} https://your.host"), "public_url")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ConfigError(
                _("{field} may contain only A-Z, a-z, 0-9, _ and - (Telegram's rule), at most 256 chars"),
                "secret",
            )
        secret = secret or pysecrets.token_urlsafe(32)
    settings: dict[str, Any] = {"mode": mode}
    if v["public_url"]:
        settings["public_url"] = v["public_url"]
    if v["api_base"]:
        settings["api_base"] = v["api_base"]
    secrets: dict[str, Any] = {"token": token}
    if secret:
        secrets["webhook_secret"] = secret
    return settings, secrets


def after_add(account: AddedAccount) -> Sequence[str]:
    lines = [f"mode: {account.settings['mode']}"]
    if account.settings["mode"] == "webhook":
        lines.append(
            f"webhook: {account.settings['public_url']}/webhooks/telegram/{account.id} (set on start)"
        )
    return lines


CONFIG = ChannelConfig(
    fields=(
        ConfigField(
            "token",
            N_("Bot token"),
            N_("The bot token from @BotFather (123456:ABC…)."),
            required=True,
            secret=True,
        ),
        ConfigField(
            "mode",
            N_("Mode"),
            N_("Polling needs no public address; webhook mode needs one."),
            type="choice",
            choices=("polling", "webhook"),
            choice_labels=(N_("Polling"), N_("Webhook")),
            default="polling",
        ),
        ConfigField(
            "public_url",
            N_("Public URL"),
            N_("Webhook mode: the https URL where Telegram reaches this server."),
            type="url",
        ),
        ConfigField(
            "secret",
            N_("Webhook secret"),
            N_("Webhook mode: secret token Telegram sends back (generated if omitted)."),
            secret=True,
            key="webhook_secret",
        ),
        ConfigField(
            "api_base",
            N_("API server"),
            N_("A self-hosted Bot API server, e.g. http://127.0.0.1:8081."),
            type="url",
        ),
    ),
    build=build,
    after_add=after_add,
)
