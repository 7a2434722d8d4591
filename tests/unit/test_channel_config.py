"""The channel config schema: one validation behind the CLI options and the admin form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from inbox import i18n
from inbox.channels.config import ChannelConfig, ConfigError, ConfigField, Stored, Values
from inbox.channels.registry import SPECS
from inbox.cli import _add_command, channel_add
from inbox.settings import Settings


def build_site(v: Values) -> Stored:
    if v["public_url"] is None and v["strict"]:
        raise ConfigError(i18n._("{field} is required"), "public_url")
    return {"origins": v["origin"], "public_url": v["public_url"], "limit": v["limit"]}, {"key": v["key"]}


SITE = ChannelConfig(
    fields=(
        ConfigField("origin", "Origin", type="url", multiple=True, required=True),
        ConfigField("public_url", "Public URL", type="url"),
        ConfigField("limit", "Limit", type="int", default=5, minimum=1, maximum=10),
        ConfigField("key", "Key", secret=True, required=True),
        ConfigField("strict", "Strict", type="bool", default=False),
        ConfigField("test", "Test", type="bool", default=False, option="--test", stored_in="none"),
    ),
    build=build_site,
)


def test_parse_types_lists_defaults_and_secrets() -> None:
    settings, secrets = SITE.parse(
        {"origin": ["https://a.example/", "https://b.example"], "key": "k", "limit": " 7 "}
    )
    assert settings == {"origins": ["https://a.example", "https://b.example"], "public_url": None, "limit": 7}
    assert secrets == {"key": "k"}
    # the form sends a list as lines of one field
    settings, _ = SITE.parse({"origin": "https://a.example\n\nhttps://b.example\n", "key": "k"})
    assert settings["origins"] == ["https://a.example", "https://b.example"] and settings["limit"] == 5


@pytest.mark.parametrize(
    ("raw", "cli_text"),
    [
        ({"key": "k"}, "--origin is required"),
        ({"origin": ["ftp://a"], "key": "k"}, "--origin must be an http(s) URL"),
        ({"origin": ["https://a"], "key": "k", "limit": "many"}, "--limit must be a whole number, got many"),
        ({"origin": ["https://a"], "key": "k", "limit": "11"}, "--limit must be at most 10"),
        ({"origin": ["https://a"], "key": " "}, "--key is required"),
        ({"origin": ["https://a"], "key": "k", "strict": True}, "--public-url is required"),
    ],
)
def test_errors_name_the_option_on_the_cli_and_the_label_in_a_form(
    raw: dict[str, Any], cli_text: str
) -> None:
    with i18n.use_locale("en"), pytest.raises(ConfigError) as caught:
        SITE.parse(raw)
    assert str(caught.value) == cli_text
    field = SITE.field(caught.value.field or "")
    shown = caught.value.render(lambda name: f"«{SITE.field(name).label}»")
    assert shown.startswith(f"«{field.label}»")


def test_errors_are_translated() -> None:
    with i18n.use_locale("ru"), pytest.raises(ConfigError) as caught:
        SITE.parse({"origin": ["https://a"]})
    assert caught.value.render(lambda name: "«Ключ»") == "«Ключ»: обязательное поле"


def test_editing_keeps_a_blank_secret() -> None:
    _, secrets = SITE.parse({"origin": "https://a", "key": ""}, keep_secrets={"key": "old"})
    assert secrets == {"key": "old"}
    _, secrets = SITE.parse({"origin": "https://a", "key": "new"}, keep_secrets={"key": "old"})
    assert secrets == {"key": "new"}


def test_a_secret_is_never_shown_back() -> None:
    assert SITE.field("key").form_value({"key": "k"}) == ""
    assert SITE.field("origin").form_value({"origin": ["https://a", "https://b"]}) == "https://a\nhttps://b"


def test_the_cli_command_comes_from_the_schema_with_repeated_options() -> None:
    command = _add_command("site", "Site", SITE)
    ctx = command.make_context(
        "site", ["--name", "s", "--origin", "https://a", "--origin", "https://b", "--key", "k", "--test"]
    )
    assert ctx.params["origin"] == ("https://a", "https://b") and ctx.params["test"] is True
    assert ctx.params["limit"] == "5"  # text: the schema, not click, validates
    settings, _ = SITE.parse({k: v for k, v in ctx.params.items() if k != "name"})
    assert settings["origins"] == ["https://a", "https://b"]


def test_every_kind_has_a_schema_and_keeps_its_wave_one_options() -> None:
    wave_one = {
        "telegram": {"--name", "--token", "--mode", "--public-url", "--secret", "--api-base"},
        "vk": {
            "--name", "--token", "--group-id", "--mode", "--secret", "--confirmation", "--api-base", "--rate",
        },
        "email": {
            "--name", "--address", "--imap-host", "--imap-port", "--smtp-host", "--smtp-port",
            "--username", "--password", "--security", "--folders", "--since", "--display-name",
            "--sent-folder", "--no-sync",
        },
        "sms": {
            "--name", "--provider", "--from", "--account-sid", "--auth-token", "--messaging-service-sid",
            "--api-id", "--webhook-token", "--test", "--verify-hash", "--max-parts", "--public-url",
            "--status-callback-url", "--attachments", "--api-base",
        },
    }  # fmt: skip
    assert isinstance(channel_add, click.Group)
    for kind, options in wave_one.items():
        assert SPECS[kind].config is not None
        command = channel_add.commands[kind]
        flags = {opt for p in command.params for opt in p.opts}
        assert options <= flags, (kind, options - flags)


def test_the_registry_is_the_one_list_of_kinds() -> None:
    from inbox.channels.registry import KINDS, is_kind
    from inbox.core import kinds
    from inbox.core.types import ChannelKind

    assert all(spec.kind == kind for kind, spec in SPECS.items())
    assert set(ChannelKind) <= set(KINDS)  # the named built-in kinds are all registered
    assert {k.kind for k in kinds.all_kinds()} == set(KINDS)  # what the core knows comes from the registry
    assert is_kind("telegram") and not is_kind("fax")


def test_checks_that_need_the_server_settings_run_with_them(tmp_path: Path) -> None:
    """The widget's rule: --public-url, else INBOX_PUBLIC_URL, else a clear error."""

    def needs_public_url(stored: Stored, app: Settings) -> None:
        if not stored[0].get("public_url") and not app.public_url:
            raise ConfigError(i18n._("{field} is required"), "public_url")

    site = ChannelConfig(fields=SITE.fields, build=build_site, check_app=needs_public_url)
    raw = {"origin": ["https://a"], "key": "k"}
    db = "sqlite+aiosqlite:///x"
    app = Settings(database_url=db, redis_url=None, secret_key="k" * 32, data_dir=tmp_path)
    with i18n.use_locale("en"), pytest.raises(ConfigError, match="--public-url is required"):
        site.parse(raw, app=app)
    assert site.parse(raw, app=app.with_(public_url="https://inbox.example"))[0]["origins"] == ["https://a"]
    assert site.parse({**raw, "public_url": "https://inbox.example"}, app=app)[0]["public_url"]
    assert site.parse(raw)[1] == {"key": "k"}  # without the server's settings the check does not run
