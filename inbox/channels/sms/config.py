"""The SMS channel's config schema: ``inbox channel add sms`` options and the admin form."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Sequence
from typing import Any

from inbox.channels.config import N_, AddedAccount, ChannelConfig, ConfigError, ConfigField, Stored, Values
from inbox.channels.sms.segments import DEFAULT_MAX_PARTS
from inbox.core.phones import try_normalize_phone
from inbox.i18n import _


def build(v: Values) -> Stored:
    provider = v["provider"]
    if provider == "smsc":
        raise ConfigError(
            _("SMSC.ru is not supported yet: use {provider} twilio or {provider} smsru"), "provider"
        )
    settings: dict[str, Any] = {
        "provider": provider,
        "max_parts": v["max_parts"],
        "attachments": v["attachments"],
    }
    secrets: dict[str, Any] = {}
    sender = v["sender"]
    if sender:
        phone = try_normalize_phone(sender)
        if phone is None and (provider == "twilio" or sender.strip().lstrip("+").isdigit()):
            raise ConfigError(_("{field} {got} is not a valid phone number"), "sender", got=repr(sender))
        settings["from"] = phone or sender.strip()
    if provider == "twilio":
        if not v["account_sid"] or not v["auth_token"]:
            raise ConfigError(_("Twilio needs {account_sid} and {auth_token}"), "account_sid")
        if not sender and not v["messaging_service_sid"]:
            raise ConfigError(_("Twilio needs {sender} NUMBER or {messaging_service_sid}"), "sender")
        secrets.update(account_sid=v["account_sid"], auth_token=v["auth_token"])
        if v["messaging_service_sid"]:
            settings["messaging_service_sid"] = v["messaging_service_sid"]
        if v["status_callback_url"]:
            settings["status_callback_url"] = v["status_callback_url"]
    else:
        if not v["api_id"]:
            raise ConfigError(_("SMS.ru needs {api_id}"), "api_id")
        secrets.update(api_id=v["api_id"], webhook_token=v["webhook_token"] or pysecrets.token_urlsafe(24))
        if v["test"]:
            settings["test"] = True
        if v["verify_hash"]:
            settings["verify_hash"] = True
    if v["public_url"]:
        settings["public_url"] = v["public_url"]
    if v["api_base"]:
        settings["api_base"] = v["api_base"]
    return settings, secrets


def after_add(account: AddedAccount) -> Sequence[str]:
    """The callback URLs to paste into the provider's console (the adapter knows them)."""
    from inbox.channels.registry import build_channel
    from inbox.core.types import AccountConfig, ChannelKind

    config = AccountConfig(
        id=account.id,
        kind=ChannelKind.SMS,
        name=account.name,
        settings=dict(account.settings),
        secrets=dict(account.secrets),
    )
    channel = build_channel(config, account.app)
    urls: dict[str, str] = getattr(channel, "webhook_urls", dict)()
    if not urls:
        return [
            f"set INBOX_PUBLIC_URL (or --public-url) to get the callback URLs: "
            f"/webhooks/sms/{account.id} and /webhooks/sms/{account.id}/status"
        ]
    return [f"{what} callback: {url}" for what, url in urls.items()]


CONFIG = ChannelConfig(
    fields=(
        ConfigField(
            "provider",
            N_("Provider"),
            type="choice",
            choices=("twilio", "smsru", "smsc"),
            choice_labels=(N_("Twilio"), N_("SMS.ru"), N_("SMSC.ru")),
            required=True,
        ),
        ConfigField(
            "sender",
            N_("Sender"),
            N_("Sender: an E.164 number, or the approved sender name (SMS.ru)."),
            option="--from",
            key="from",
        ),
        ConfigField("account_sid", N_("Account SID"), N_("Twilio: Account SID."), secret=True),
        ConfigField(
            "auth_token",
            N_("Auth Token"),
            N_("Twilio: Auth Token (also verifies X-Twilio-Signature)."),
            secret=True,
        ),
        ConfigField(
            "messaging_service_sid",
            N_("Messaging Service SID"),
            N_("Twilio: send through a Messaging Service instead of the sender number."),
        ),
        ConfigField("api_id", N_("api_id"), N_("SMS.ru: api_id."), secret=True),
        ConfigField(
            "webhook_token",
            N_("Callback token"),
            N_("SMS.ru: the token in the callback URL (generated if omitted)."),
            secret=True,
        ),
        ConfigField(
            "test",
            N_("Test mode"),
            N_("SMS.ru test mode: nothing is delivered or billed."),
            type="bool",
            default=False,
        ),
        ConfigField(
            "verify_hash",
            N_("Verify hash"),
            N_("SMS.ru: also check the callback hash field."),
            type="bool",
            default=False,
        ),
        ConfigField(
            "max_parts",
            N_("Max parts"),
            N_("Refuse texts longer than this many SMS parts."),
            type="int",
            default=DEFAULT_MAX_PARTS,
            minimum=1,
            maximum=20,
        ),
        ConfigField(
            "public_url",
            N_("Public URL"),
            N_("The https URL where the provider reaches this server (callbacks)."),
            type="url",
        ),
        ConfigField(
            "status_callback_url",
            N_("Status callback URL"),
            N_("Twilio: override the delivery-status callback URL."),
            type="url",
        ),
        ConfigField(
            "attachments",
            N_("Attachments"),
            N_("Files cannot go by SMS: add a note to the text, or refuse (falls back to another channel)."),
            type="choice",
            choices=("note", "refuse"),
            choice_labels=(N_("Add a note to the text"), N_("Refuse")),
            default="note",
        ),
        ConfigField(
            "api_base",
            N_("API server"),
            N_("Another API endpoint (regional gateway, test emulator)."),
            type="url",
        ),
    ),
    build=build,
    after_add=after_add,
)
