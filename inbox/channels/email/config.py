"""The email channel's config schema: ``inbox channel add email`` options and the admin form."""

from __future__ import annotations

from collections.abc import Sequence

from inbox.channels.config import N_, AddedAccount, ChannelConfig, ConfigField, Stored, Values
from inbox.channels.email.account import email_account_config


def build(v: Values) -> Stored:
    return email_account_config(
        address=v["address"],
        imap_host=v["imap_host"],
        smtp_host=v["smtp_host"],
        password=v["password"],
        username=v["username"],
        imap_port=v["imap_port"],
        smtp_port=v["smtp_port"],
        security=v["security"],
        folders=v["folders"],
        since=v["since"],
        display_name=v["display_name"] or "",
        sent_folder=v["sent_folder"],
    )


def after_add(account: AddedAccount) -> Sequence[str]:
    return [f"address: {account.settings['address']}"]


CONFIG = ChannelConfig(
    fields=(
        ConfigField("address", N_("Address"), N_("The shop's address, e.g. info@shop.ru."), required=True),
        ConfigField("imap_host", N_("IMAP server"), required=True),
        ConfigField("imap_port", N_("IMAP port"), type="int", minimum=1, maximum=65535),
        ConfigField("smtp_host", N_("SMTP server"), required=True),
        ConfigField("smtp_port", N_("SMTP port"), type="int", minimum=1, maximum=65535),
        ConfigField("username", N_("Login"), N_("Login (defaults to the address).")),
        ConfigField("password", N_("Password"), required=True, secret=True),
        ConfigField(
            "security",
            N_("Security"),
            type="choice",
            choices=("ssl", "starttls", "none"),
            choice_labels=(N_("SSL/TLS"), N_("STARTTLS"), N_("No encryption")),
            default="ssl",
        ),
        ConfigField(
            "folders",
            N_("Folders"),
            N_("Comma-separated IMAP folders to read."),
            default="INBOX",
            show=lambda v: ", ".join(v),
        ),
        ConfigField(
            "since",
            N_("History"),
            N_("History to fetch first: 30d, 2w, 3m, 1y."),
            default="30d",
            key="since_days",
            show=lambda v: f"{v}d",
        ),
        ConfigField("display_name", N_("Sender name"), N_("Sender name on outgoing letters."), default=""),
        ConfigField(
            "sent_folder", N_("Sent folder"), N_("Also copy sent letters into this IMAP folder (e.g. Sent).")
        ),
        ConfigField(
            "no_sync",
            N_("Skip the first sync"),
            N_("Skip the first sync now; `inbox serve` does it."),
            type="bool",
            default=False,
            stored_in="none",
        ),
    ),
    build=build,
    after_add=after_add,
)
