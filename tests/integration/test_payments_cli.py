"""`inbox payment add|list` as a shop's script runs them: clear messages, non-zero exits on bad input."""

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
        "INBOX_PUBLIC_URL": "https://shop.example",
    }


async def test_payment_add_and_list(env: dict[str, str], tmp_path: Path, engine: object) -> None:
    def run(line: str) -> subprocess.CompletedProcess[str]:
        return cli(env, tmp_path, *shlex.split(line))

    empty = run("payment list")
    assert empty.returncode == 0 and "no payment accounts yet" in empty.stdout
    bad_shop = run("payment add yookassa --name main --shop-id abc --secret-key test_k")
    assert bad_shop.returncode != 0 and "--shop-id must be digits" in bad_shop.stderr
    bad_base = run("payment add yookassa --name main --shop-id 100500 --secret-key test_k --api-base ftp://x")
    assert bad_base.returncode != 0 and "--api-base must be an http(s) URL" in bad_base.stderr
    missing = run("payment add yookassa --name main --shop-id 100500")
    assert missing.returncode != 0 and "--secret-key" in missing.stderr
    ok = run(
        "payment add yookassa --name main --shop-id 100500 --secret-key test_k --api-base http://127.0.0.1:9/"
    )
    assert ok.returncode == 0, ok.stderr
    assert "https://shop.example/webhooks/yookassa/" in ok.stdout
    twice = run("payment add yookassa --name main --shop-id 100500 --secret-key test_k")
    assert twice.returncode != 0 and "already exists" in twice.stderr
    listed = run("payment list")
    assert listed.returncode == 0
    assert "main" in listed.stdout and "100500" in listed.stdout and "http://127.0.0.1:9" in listed.stdout
    assert "test_k" not in listed.stdout  # the secret is never printed


async def test_carrier_add_and_list(env: dict[str, str], tmp_path: Path, engine: object) -> None:
    def run(line: str) -> subprocess.CompletedProcess[str]:
        return cli(env, tmp_path, *shlex.split(line))

    assert "no carrier accounts yet" in run("carrier list").stdout
    cdek = run(
        "carrier add cdek --name cdek --client-id ID1 --client-secret S1 --api-base http://127.0.0.1:9"
    )
    assert cdek.returncode == 0, cdek.stderr
    assert "https://shop.example/webhooks/cdek/" in cdek.stdout
    empty = run("carrier add cdek --name cdek2 --client-id ' ' --client-secret S1")
    assert empty.returncode != 0 and "--client-id must not be empty" in empty.stderr
    bad = run("carrier add boxberry --name bb --token T --api-base nope")
    assert bad.returncode != 0 and "--api-base" in bad.stderr
    assert run("carrier add russianpost --name post --login L --password P").returncode == 0
    never = run("carrier add russianpost --name post2 --login L --password P --poll-interval 0")
    assert never.returncode != 0 and "--poll-interval" in never.stderr
    assert run("carrier add boxberry --name bb --token T --poll-interval 600").returncode == 0
    again = run("carrier add boxberry --name bb --token T")
    assert again.returncode != 0 and "already exists" in again.stderr
    listed = run("carrier list").stdout
    assert all(word in listed for word in ("cdek", "russianpost", "boxberry", "http://127.0.0.1:9"))
    assert "600" in listed and "1800" in listed and "webhooks" in listed  # polled every …; СДЭК: webhooks
    assert "S1" not in listed
