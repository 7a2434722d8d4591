"""The `inbox` command as a shop's script would run it: clear messages, non-zero exits on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server import cli


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(tmp_path / "data"),
        "INBOX_SECRET_KEY": "cli-test-secret-0123456789",
    }


async def test_manager_token_and_channel_commands(
    env: dict[str, str], tmp_path: Path, engine: object
) -> None:
    ok = cli(
        env,
        tmp_path,
        "manager",
        "create",
        "--email",
        "Olga@Shop.ru",
        "--name",
        "Ольга",
        "--password",
        "s3cret-pass",
        "--role",
        "admin",
    )
    assert ok.returncode == 0, ok.stderr
    assert "olga@shop.ru" in ok.stdout
    dup = cli(
        env,
        tmp_path,
        "manager",
        "create",
        "--email",
        "olga@shop.ru",
        "--name",
        "x",
        "--password",
        "s3cret-pass",
    )
    assert dup.returncode != 0 and "already exists" in dup.stderr
    weak = cli(env, tmp_path, "manager", "create", "--email", "a@b.ru", "--name", "x", "--password", "123")
    assert weak.returncode != 0 and "at least 8" in weak.stderr
    bad_role = cli(
        env,
        tmp_path,
        "manager",
        "create",
        "--email",
        "a@b.ru",
        "--name",
        "x",
        "--password",
        "12345678",
        "--role",
        "boss",
    )
    assert bad_role.returncode != 0

    tok = cli(env, tmp_path, "token", "create", "--name", "erp")
    assert tok.returncode == 0, tok.stderr
    assert tok.stdout.strip().splitlines()[-1].startswith("inb_")
    assert cli(env, tmp_path, "token", "create", "--name", "erp").returncode != 0

    bad = cli(env, tmp_path, "channel", "add", "telegram", "--name", "shop", "--token", "nonsense")
    assert bad.returncode != 0 and "does not look like" in bad.stderr
    no_url = cli(
        env,
        tmp_path,
        "channel",
        "add",
        "telegram",
        "--name",
        "shop",
        "--token",
        "123:ABC",
        "--mode",
        "webhook",
    )
    assert no_url.returncode != 0 and "--public-url" in no_url.stderr
    added = cli(
        env,
        tmp_path,
        "channel",
        "add",
        "telegram",
        "--name",
        "shop",
        "--token",
        "123:ABC",
        "--mode",
        "webhook",
        "--public-url",
        "https://shop.example",
        "--secret",
        "S",
    )
    assert added.returncode == 0, added.stderr
    assert "/webhooks/telegram/" in added.stdout
    listed = cli(env, tmp_path, "channel", "list")
    assert "shop" in listed.stdout and "webhook" in listed.stdout


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    out = cli({"INBOX_DATABASE_URL": "mysql://nope"}, tmp_path, "channel", "list")
    assert out.returncode != 0
    assert "INBOX_DATABASE_URL" in out.stderr
