"""The VK channel's config schema: ``inbox channel add vk`` options and the admin form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inbox.channels.config import N_, AddedAccount, ChannelConfig, ConfigError, ConfigField, Stored, Values
from inbox.i18n import _


def build(v: Values) -> Stored:
    token = str(v["token"]).strip()
    if len(token) < 20:
        raise ConfigError(_("{field} does not look like a VK community token"), "token")
    if v["mode"] == "callback" and not v["confirmation"]:
        raise ConfigError(
            _("{mode} callback needs {confirmation} (the string VK shows in Callback API settings)"),
            "confirmation",
        )
    settings: dict[str, Any] = {"group_id": v["group_id"], "mode": v["mode"]}
    if v["api_base"]:
        settings["api_base"] = v["api_base"]
    if v["rate"]:
        settings["rate"] = v["rate"]
    secrets: dict[str, Any] = {"token": token}
    if v["secret"]:
        secrets["secret"] = v["secret"]
    if v["confirmation"]:
        secrets["confirmation"] = v["confirmation"]
    return settings, secrets


def after_add(account: AddedAccount) -> Sequence[str]:
    lines = [f"mode: {account.settings['mode']}"]
    if account.settings["mode"] == "callback":
        base = account.app.public_url or "<your public URL>"
        lines.append(f"Callback API URL: {base}/webhooks/vk/{account.id}")
    return lines


CONFIG = ChannelConfig(
    fields=(
        ConfigField(
            "token",
            N_("Access token"),
            N_("The community access token (messages allowed)."),
            required=True,
            secret=True,
        ),
        ConfigField(
            "group_id",
            N_("Community id"),
            N_("The community id (digits)."),
            type="int",
            required=True,
            minimum=1,
        ),
        ConfigField(
            "mode",
            N_("Mode"),
            N_("Bots Long Poll needs no public address; Callback API needs one."),
            type="choice",
            choices=("callback", "longpoll"),
            choice_labels=(N_("Callback API"), N_("Bots Long Poll")),
            default="longpoll",
        ),
        ConfigField(
            "secret",
            N_("Secret key"),
            N_("Callback API: the secret key set in the community settings."),
            secret=True,
        ),
        ConfigField(
            "confirmation",
            N_("Confirmation string"),
            N_("Callback API: the confirmation string VK shows."),
            secret=True,
        ),
        ConfigField(
            "api_base",
            N_("API server"),
            N_("Another API endpoint (proxy, test emulator), e.g. http://127.0.0.1:8082."),
            type="url",
        ),
        ConfigField(
            "rate",
            N_("Requests per second"),
            N_("Requests per second (default 20)."),
            type="float",
            minimum=0.1,
        ),
    ),
    build=build,
    after_add=after_add,
)
