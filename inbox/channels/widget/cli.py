"""``inbox channel add widget``: a widget key for the shop's site; prints the snippet to paste."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

import click

from inbox.channels.widget.config import BadConfig, WidgetConfig, normalize_origin, parse_config

AddAccount = Callable[[str, str, dict[str, Any], dict[str, Any]], int]
Fail = Callable[[str], None]


def make_command(add_account: AddAccount, fail: Fail) -> click.Command:
    """The command, given the CLI's own account writer and error exit (channels do not import the CLI)."""

    @click.command("widget")
    @click.option("--name", required=True)
    @click.option(
        "--origin",
        "origins",
        multiple=True,
        required=True,
        help="A site allowed to show the widget, e.g. https://shop.example (repeatable).",
    )
    @click.option("--public-url", help="Where browsers reach this server (default: INBOX_PUBLIC_URL).")
    @click.option(
        "--title", default="", help="The chat window's title (default: a translated 'Chat with us')."
    )
    @click.option("--greeting", default="", help="The first line a visitor sees.")
    @click.option("--color", default="#1f6feb", show_default=True, help="The accent colour, #rrggbb.")
    @click.option("--position", type=click.Choice(["right", "left"]), default="right", show_default=True)
    @click.option(
        "--lang",
        type=click.Choice(["auto", "ru", "en"]),
        default="auto",
        show_default=True,
        help="auto: the language of the shop's page.",
    )
    def add_widget(
        name: str,
        origins: tuple[str, ...],
        public_url: str | None,
        title: str,
        greeting: str,
        color: str,
        position: str,
        lang: str,
    ) -> None:
        """Add a chat widget for the shop's website and print the <script> tag to paste."""
        public = (public_url or os.environ.get("INBOX_PUBLIC_URL") or "").strip().rstrip("/")
        if not public:
            fail(
                "the widget needs this server's public URL: pass --public-url https://inbox.example "
                "or set INBOX_PUBLIC_URL"
            )
        if not public.startswith(("https://", "http://")):
            fail("--public-url must be an http(s) URL")
        try:
            allowed = tuple(dict.fromkeys(normalize_origin(o) for o in origins))
            cfg = WidgetConfig(
                key=secrets.token_urlsafe(18),
                origins=allowed,
                public_url=public,
                title=title.strip(),
                greeting=greeting.strip(),
                color=color,
                position=position,
                lang=lang,
            )
            settings = cfg.as_settings()
            parse_config(settings)
        except BadConfig as exc:
            fail(str(exc))
            raise
        secret = secrets.token_hex(32)
        add_account("widget", name, settings, {"secret": secret})
        click.echo(f'<script src="{public}/widget.js" data-key="{cfg.key}" async></script>')
        click.echo(
            "For logged-in buyers, add data-customer-id and data-customer-sig = HMAC-SHA256 of your user id "
            f"with this secret (keep it on your server): {secret}",
            err=True,
        )

    return add_widget
