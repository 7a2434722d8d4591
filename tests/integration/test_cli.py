"""The `inbox` command as a shop's script would run it: clear messages, non-zero exits on bad input."""

from __future__ import annotations

import shlex
import subprocess
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


async def test_vk_and_sms_accounts_with_clear_errors(
    env: dict[str, str], tmp_path: Path, engine: object
) -> None:
    def run(line: str) -> subprocess.CompletedProcess[str]:
        return cli(env, tmp_path, *shlex.split(line))

    short = run("channel add vk --name club --token abc --group-id 1")
    assert short.returncode != 0 and "VK community token" in short.stderr
    no_conf = run(f"channel add vk --name club --token {'t' * 40} --group-id 1 --mode callback")
    assert no_conf.returncode != 0 and "--confirmation" in no_conf.stderr
    vk = run(f"channel add vk --name club --token {'t' * 40} --group-id 1 --mode callback --confirmation ok1")
    assert vk.returncode == 0 and "/webhooks/vk/" in vk.stdout

    no_creds = run("channel add sms --name tw --provider twilio --from +15005550006")
    assert no_creds.returncode != 0 and "--account-sid" in no_creds.stderr
    bad_from = run("channel add sms --name tw --provider twilio --from 12 --account-sid AC1 --auth-token t")
    assert bad_from.returncode != 0 and "not a valid phone number" in bad_from.stderr
    smsc = run("channel add sms --name c --provider smsc --from +79990000000")
    assert smsc.returncode != 0 and "not supported" in smsc.stderr
    smsru = run(
        "channel add sms --name ru --provider smsru --api-id K --from '+7 916 123-45-67' "
        "--public-url https://shop.example"
    )
    assert smsru.returncode == 0, smsru.stderr
    assert "https://shop.example/webhooks/sms/" in smsru.stdout and "token=" in smsru.stdout
    listed = run("channel list")
    assert "club" in listed.stdout and "ru" in listed.stdout
