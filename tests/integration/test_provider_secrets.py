"""Payment provider and carrier secrets at rest, on SQLite and PostgreSQL: `inbox payment add` and
`inbox carrier add` store the YooKassa secret key and the СДЭК, Почта России and Boxberry credentials
encrypted; rows an older version stored in plain text (a Telegram Payments provider token, a Boxberry token)
are encrypted by `inbox db upgrade`; the raw rows never hold a secret, and neither does the commands' output
or any row after СДЭК calls (its OAuth token lives in memory only). After `inbox secret rotate` every provider
still authenticates (against the emulators) under the new key alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from inbox import logs
from inbox.core.secretbox import MARK, SecretBox, SecretsUnreadable
from inbox.db import SessionFactory, transaction
from inbox.models import CarrierAccount, ChannelAccount, PaymentAccount
from inbox.orders.carriers.service import cdek_client, find_points, tracker_for
from inbox.orders.payments.accounts import yookassa_client
from inbox.orders.payments.errors import ProviderRefused
from inbox.settings import Settings
from tests.emulators.boxberry import BoxberryEmulator
from tests.emulators.cdek import CdekEmulator
from tests.emulators.russianpost import RussianPostEmulator
from tests.emulators.yookassa import YooKassaEmulator
from tests.server import cli

OLD, NEW = "old-secret-key-0123456789", "new-secret-key-9876543210"
BARCODE = "80083577295862"
BB_NUMBER = "BBR0012345678"


def env(db_url: str, tmp_path: Path, key: str, old: str | None = None) -> dict[str, str]:
    out = {"INBOX_DATABASE_URL": db_url, "INBOX_DATA_DIR": str(tmp_path / "data"), "INBOX_SECRET_KEY": key}
    if old:
        out["INBOX_SECRET_KEY_OLD"] = old
    return out


async def raw_rows(factory: SessionFactory) -> dict[str, str]:
    """Every payment and carrier account row as the database holds it (all columns, as text)."""
    out: dict[str, str] = {}
    async with factory() as session:
        for table in ("payment_account", "carrier_account"):
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).mappings():
                out[f"{table}:{row['name']}"] = json.dumps(
                    {k: v if isinstance(v, str | int | dict | None) else str(v) for k, v in row.items()},
                    default=str,
                )
    return out


@pytest.fixture
def emulators() -> Iterator[tuple[YooKassaEmulator, CdekEmulator, RussianPostEmulator, BoxberryEmulator]]:
    with (
        YooKassaEmulator() as yk,
        CdekEmulator() as cdek,
        RussianPostEmulator() as post,
        BoxberryEmulator() as bb,
    ):
        post.add_operation(BARCODE, 1, 1)
        bb.add_status(BB_NUMBER, "Принято к доставке")
        yield yk, cdek, post, bb


def add_all(
    db_url: str,
    tmp_path: Path,
    key: str,
    yk: YooKassaEmulator,
    cdek: CdekEmulator,
    post: RussianPostEmulator,
    bb: BoxberryEmulator,
) -> str:
    """Connects every provider with the CLI; returns all it printed."""
    e = env(db_url, tmp_path, key)
    commands = [
        [
            "payment",
            "add",
            "yookassa",
            "--name",
            "yk",
            "--shop-id",
            yk.shop_id,
            "--secret-key",
            yk.secret_key,
            "--api-base",
            yk.base_url,
        ],
        [
            "carrier",
            "add",
            "cdek",
            "--name",
            "cdek",
            "--client-id",
            cdek.client_id,
            "--client-secret",
            cdek.client_secret,
            "--api-base",
            cdek.base_url,
        ],
        [
            "carrier",
            "add",
            "russianpost",
            "--name",
            "post",
            "--login",
            post.login,
            "--password",
            post.password,
            "--api-base",
            post.base_url,
        ],
        ["carrier", "add", "boxberry", "--name", "bb", "--token", bb.token, "--api-base", bb.base_url],
        ["payment", "list"],
        ["carrier", "list"],
    ]
    printed = ""
    for args in commands:
        done = cli(e, tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
        printed += done.stdout + done.stderr
    return printed


def provider_secrets(
    yk: YooKassaEmulator, cdek: CdekEmulator, post: RussianPostEmulator, bb: BoxberryEmulator
) -> list[str]:
    return [yk.secret_key, cdek.client_id, cdek.client_secret, post.login, post.password, bb.token]


async def test_provider_secrets_are_encrypted_and_plaintext_rows_are_migrated(
    db_url: str,
    factory: SessionFactory,
    tmp_path: Path,
    emulators: tuple[YooKassaEmulator, CdekEmulator, RussianPostEmulator, BoxberryEmulator],
) -> None:
    yk, cdek, post, bb = emulators
    assert cli(env(db_url, tmp_path, OLD), tmp_path, "db", "upgrade").returncode == 0
    printed = add_all(db_url, tmp_path, OLD, yk, cdek, post, bb)
    secrets = provider_secrets(yk, cdek, post, bb)
    assert not any(s in printed for s in secrets), printed
    stored = await raw_rows(factory)
    assert set(stored) == {
        "payment_account:yk",
        "carrier_account:cdek",
        "carrier_account:post",
        "carrier_account:bb",
    }
    for name, row in stored.items():
        assert MARK in row, name
        assert not any(s in row for s in secrets), (name, row)

    # rows as an older version stored them: plain text until `inbox db upgrade` (or the next start)
    async with transaction(factory) as session:
        session.add(
            PaymentAccount(
                kind="telegram",
                name="tgpay",
                settings={"channel_id": 1},
                secrets={"provider_token": "PLAIN-PROVIDER-TOKEN"},
            )
        )
        session.add(
            CarrierAccount(
                kind="boxberry", name="old-bb", settings={}, secrets={"token": "PLAIN-BB-TOKEN"}, state={}
            )
        )
    assert any("PLAIN-PROVIDER-TOKEN" in v for v in (await raw_rows(factory)).values())
    upgraded = cli(env(db_url, tmp_path, OLD), tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "encrypted the secrets of 2 " in upgraded.stdout, upgraded.stdout
    stored = await raw_rows(factory)
    for name, row in stored.items():
        assert MARK in row, name
        assert not any(s in row for s in [*secrets, "PLAIN-PROVIDER-TOKEN", "PLAIN-BB-TOKEN"]), (name, row)
    async with factory() as session:
        old_bb = (
            await session.execute(text("SELECT secrets FROM carrier_account WHERE name = 'old-bb'"))
        ).one()
    opened = SecretBox(OLD).open(old_bb[0] if isinstance(old_bb[0], dict) else json.loads(old_bb[0]))
    assert opened == {"token": "PLAIN-BB-TOKEN"}

    # the СДЭК OAuth token is kept in the client's memory only: after calls, no row holds it
    settings = Settings(database_url=db_url, redis_url=None, secret_key=OLD, data_dir=tmp_path)
    async with factory() as session:
        row = (
            await session.execute(select(CarrierAccount).where(CarrierAccount.name == "cdek"))
        ).scalar_one()
    client = cdek_client(row, settings)
    token = await client.token()
    code, points = await find_points(factory, settings, "Москва")
    assert code is not None and [p.code for p in points] == ["MSK123"]
    assert not any(token in v for v in (await raw_rows(factory)).values())


async def test_providers_authenticate_after_rotation(
    db_url: str,
    factory: SessionFactory,
    tmp_path: Path,
    emulators: tuple[YooKassaEmulator, CdekEmulator, RussianPostEmulator, BoxberryEmulator],
) -> None:
    yk, cdek, post, bb = emulators
    assert cli(env(db_url, tmp_path, OLD), tmp_path, "db", "upgrade").returncode == 0
    add_all(db_url, tmp_path, OLD, yk, cdek, post, bb)
    async with transaction(factory) as session:  # a channel too: rotate covers every table in one run
        session.add(
            ChannelAccount(
                kind="vk", name="club", settings={}, secrets=SecretBox(OLD).seal({"token": "vk"}), state={}
            )
        )
    before = await raw_rows(factory)

    rotated = cli(env(db_url, tmp_path, NEW, OLD), tmp_path, "secret", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted the secrets of 5 " in rotated.stdout, rotated.stdout
    after_rows = await raw_rows(factory)
    assert all(after_rows[name] != before[name] for name in before)

    old_only = Settings(database_url=db_url, redis_url=None, secret_key=OLD, data_dir=tmp_path)
    new_only = old_only.with_(secret_key=NEW)
    async with factory() as session:
        payment = (
            await session.execute(select(PaymentAccount).where(PaymentAccount.name == "yk"))
        ).scalar_one()
        carriers = {r.name: r for r in (await session.execute(select(CarrierAccount))).scalars()}
    cdek_row, post_row, bb_row = carriers["cdek"], carriers["post"], carriers["bb"]
    # the old key alone no longer opens them: they really were re-encrypted
    with pytest.raises(SecretsUnreadable):
        yookassa_client(payment, old_only)
    with pytest.raises(SecretsUnreadable):
        tracker_for(bb_row, old_only)

    # under the new key alone (INBOX_SECRET_KEY_OLD unset after the rotation) every provider accepts us
    with pytest.raises(ProviderRefused, match="404 not_found"):  # authenticated (401 otherwise)
        await yookassa_client(payment, new_only).get_payment("no-such-payment")
    assert await cdek_client(cdek_row, new_only).token()
    code, points = await find_points(factory, new_only, "Санкт-Петербург")
    assert code is not None and [p.code for p in points] == ["SPB7"]
    assert [e.code for e in await tracker_for(post_row, new_only).history(BARCODE)]
    assert await tracker_for(bb_row, new_only).history(BB_NUMBER)
    # opened once, a provider secret is masked in every log line that would carry it
    line = logs.redact(" ".join(f"failed with {s}" for s in provider_secrets(yk, cdek, post, bb)))
    assert not any(s in line for s in provider_secrets(yk, cdek, post, bb)), line


async def test_a_wrong_secret_is_refused_by_the_emulators(
    emulators: tuple[YooKassaEmulator, CdekEmulator, RussianPostEmulator, BoxberryEmulator],
) -> None:
    """The rotation test proves authentication: with a wrong secret each emulator refuses."""
    from inbox.orders.carriers.boxberry import BoxberryClient
    from inbox.orders.carriers.cdek import CdekClient
    from inbox.orders.carriers.russianpost import RussianPostClient
    from inbox.orders.payments.yookassa import YooKassaClient

    yk, cdek, post, bb = emulators
    with pytest.raises(ProviderRefused, match="401"):
        await YooKassaClient(yk.shop_id, "wrong", yk.base_url).get_payment("no-such-payment")
    with pytest.raises(ProviderRefused):
        await CdekClient(cdek.client_id, "wrong", cdek.base_url).token()
    with pytest.raises(ProviderRefused):
        await RussianPostClient(post.login, "wrong", post.base_url).history(BARCODE)
    with pytest.raises(ProviderRefused):
        await BoxberryClient("wrong", bb.base_url).history(BB_NUMBER)
