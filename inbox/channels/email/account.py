"""What ``inbox channel add email …`` stores for a mailbox, validated before anything is saved."""

from __future__ import annotations

import re
from typing import Any

from inbox.channels.config import ConfigError
from inbox.channels.email.imap import Security
from inbox.i18n import _

_SINCE = re.compile(r"^\s*(\d{1,5})\s*([dwmy]?)\s*$", re.IGNORECASE)
_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_since(value: str | int) -> int:
    """``30d`` / ``2w`` / ``3m`` / ``1y`` / ``45`` -> days of history to fetch on the first sync."""
    if isinstance(value, int):
        days = value
    else:
        match = _SINCE.match(value)
        if not match:
            raise ConfigError(
                _("{field} must look like 30d, 2w, 3m or 1y, got {got}"), "since", got=repr(value)
            )
        days = int(match.group(1)) * _DAYS[match.group(2).lower()]
    if not 0 < days <= 3650:
        raise ConfigError(_("{field} must be between 1 day and 10 years, got {got} days"), "since", got=days)
    return days


def email_account_config(
    *,
    address: str,
    imap_host: str,
    smtp_host: str,
    password: str,
    username: str | None = None,
    imap_port: int | None = None,
    smtp_port: int | None = None,
    security: str = "ssl",
    folders: str | list[str] = "INBOX",
    since: str | int = "30d",
    display_name: str = "",
    sent_folder: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(channel_account.settings, channel_account.secrets) for a mailbox. Raises ValueError with the
    option's name on bad input (a ConfigError, which is a ValueError)."""
    address = address.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
        raise ConfigError(_("{field} must be an email address, got {got}"), "address", got=repr(address))
    if security not in ("ssl", "starttls", "none"):
        raise ConfigError(
            _("{field} must be ssl, starttls or none, got {got}"), "security", got=repr(security)
        )
    sec: Security = security  # type: ignore[assignment]
    default_imap, default_smtp = {"ssl": (993, 465), "starttls": (143, 587), "none": (143, 25)}[sec]
    for name, port in (("imap_port", imap_port), ("smtp_port", smtp_port)):
        if port is not None and not 0 < port < 65536:
            raise ConfigError(_("{field} must be a TCP port, got {got}"), name, got=port)
    for name, host in (("imap_host", imap_host), ("smtp_host", smtp_host)):
        if not host or any(c.isspace() for c in host):
            raise ConfigError(_("{field} must be a host name, got {got}"), name, got=repr(host))
    if not password:
        raise ConfigError(_("{field} is required"), "password")
    folder_list = [f.strip() for f in folders.split(",")] if isinstance(folders, str) else list(folders)
    folder_list = [f for f in folder_list if f]
    if not folder_list:
        raise ConfigError(_("{field} must name at least one folder"), "folders")
    settings: dict[str, Any] = {
        "address": address.lower(),
        "display_name": display_name,
        "imap_host": imap_host,
        "imap_port": imap_port or default_imap,
        "smtp_host": smtp_host,
        "smtp_port": smtp_port or default_smtp,
        "security": sec,
        "username": username or address,
        "folders": folder_list,
        "since_days": parse_since(since),
    }
    if sent_folder:
        settings["sent_folder"] = sent_folder
    return settings, {"password": password}
