"""`inbox db backup FILE` / `inbox db restore FILE` on SQLite and PostgreSQL (database + data directory), and
`inbox db copy --to URL` from SQLite to PostgreSQL, end to end through the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.db import make_engine
from inbox.models import Base, Manager
from tests import services
from tests.server import cli


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (backup/restore replaces whole databases)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}"
        return
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    url = services.create_pg_database()
    try:
        yield url
    finally:
        services.drop_pg_database(url)


async def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                for t in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


def flat(text: str) -> str:
    """Console output without the terminal's line wrapping."""
    return " ".join(text.split())


def run_ok(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = cli(env, cwd, *args)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def test_backup_and_restore(fresh_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"INBOX_DATABASE_URL": fresh_url, "INBOX_DATA_DIR": str(data)}  # the secret key is generated
    await asyncio.to_thread(run_ok, env, tmp_path, "db", "upgrade")
    await asyncio.to_thread(run_ok, env, tmp_path, "demo")
    (data / "files").mkdir(parents=True, exist_ok=True)
    (data / "files" / "invoice.pdf").write_bytes(b"%PDF-1.4 invoice")
    key = (data / ".secret_key").read_text()
    before = await table_counts(fresh_url)
    assert before["message"] > 0 and before["manager"] == 1

    backup = tmp_path / "backups" / "inbox.tar.gz"
    out = await asyncio.to_thread(run_ok, env, tmp_path, "db", "backup", str(backup))
    assert "files" in out and backup.is_file()

    # Life goes on, then something goes wrong.
    await asyncio.to_thread(
        run_ok,
        env,
        tmp_path,
        "manager",
        "create",
        "--email",
        "late@shop.example",
        "--name",
        "Late",
        "--password",
        "late-pass-123",
    )
    (data / "files" / "invoice.pdf").unlink()
    (data / ".secret_key").unlink()
    assert (await table_counts(fresh_url))["manager"] == 2

    await asyncio.to_thread(run_ok, env, tmp_path, "db", "restore", str(backup), "--yes")
    assert await table_counts(fresh_url) == before
    assert (data / "files" / "invoice.pdf").read_bytes() == b"%PDF-1.4 invoice"
    assert (data / ".secret_key").read_text() == key  # sessions and signed links survive
    engine = make_engine(fresh_url)
    try:
        async with engine.connect() as conn:
            emails = set((await conn.execute(select(Manager.email))).scalars())
    finally:
        await engine.dispose()
    assert emails == {"admin@shop.example"}


def test_restore_refuses_what_it_cannot_restore(tmp_path: Path) -> None:
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp_path),
    }
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a backup")
    done = cli(env, tmp_path, "db", "restore", str(junk), "--yes")
    assert done.returncode == 2 and "not an inbox backup" in flat(done.stderr)
    missing = cli(env, tmp_path, "db", "restore", str(tmp_path / "nope.tar.gz"), "--yes")
    assert missing.returncode == 2 and "no such file" in flat(missing.stderr)
    pg_env = {**env, "INBOX_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/none"}
    run_ok(env, tmp_path, "db", "upgrade")
    run_ok(env, tmp_path, "db", "backup", str(tmp_path / "b.tar.gz"))
    cross = cli(pg_env, tmp_path, "db", "restore", str(tmp_path / "b.tar.gz"), "--yes")
    assert cross.returncode == 2 and "inbox db copy" in flat(cross.stderr)


async def test_copy_sqlite_to_postgresql(tmp_path: Path) -> None:
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}"
    env = {"INBOX_DATABASE_URL": sqlite_url, "INBOX_DATA_DIR": str(tmp_path / "data")}
    await asyncio.to_thread(run_ok, env, tmp_path, "db", "upgrade")
    await asyncio.to_thread(run_ok, env, tmp_path, "demo")
    source = await table_counts(sqlite_url)
    pg = await asyncio.to_thread(services.create_pg_database)
    try:
        plain = pg.replace("postgresql+asyncpg://", "postgresql://")
        out = await asyncio.to_thread(run_ok, env, tmp_path, "db", "copy", "--to", plain)
        assert "done:" in out
        assert await table_counts(pg) == source
        again = await asyncio.to_thread(cli, env, tmp_path, "db", "copy", "--to", plain)
        assert again.returncode == 2 and "not empty" in flat(again.stderr)
        pg_env = {**env, "INBOX_DATABASE_URL": plain}
        # The copy works as the new database: ids continue after the copied ones, the demo login is there.
        made = await asyncio.to_thread(
            run_ok,
            pg_env,
            tmp_path,
            "manager",
            "create",
            "--email",
            "new@shop.example",
            "--name",
            "New",
            "--password",
            "new-pass-1234",
        )
        assert f"manager {source['manager'] + 1} created" in made
        channels = await asyncio.to_thread(run_ok, pg_env, tmp_path, "channel", "list")
        assert "demo" in channels
    finally:
        await asyncio.to_thread(services.drop_pg_database, pg)
    bad = cli(env, tmp_path, "db", "copy", "--to", "mysql://x@y/z")
    assert bad.returncode == 2 and "PostgreSQL URL" in flat(bad.stderr)
