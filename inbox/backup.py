"""``inbox db backup|restore|copy``.

A backup is one ``.tar.gz``: ``manifest.json``, the database (SQLite: an online backup through the sqlite3
backup API, safe while the server runs; PostgreSQL: ``pg_dump --format=custom``) and the data directory
(attachments and the generated secret key). ``restore`` puts both back. ``copy`` moves every row from the
current database (SQLite) into an empty PostgreSQL database migrated to the same schema.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from inbox.models import Base, utcnow

FORMAT = 1


class BackupError(Exception):
    """A backup, restore or copy cannot go on; the message says why and what to do."""


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the SQLite database must be a file")
    return Path(database)


def _pg_dsn(url: str) -> str:
    """A libpq URL (``postgresql://…``) for pg_dump / pg_restore."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{args[0]} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed: {done.stderr.strip()[-1000:]}")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(utcnow().timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


@dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    database: str
    files: int
    size: int


def backup(database_url: str, data_dir: Path, target: Path) -> BackupSummary:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="inbox-backup-") as tmp:
        if kind == "sqlite":
            source = sqlite_path(database_url)
            if not source.is_file():
                raise BackupError(f"no database at {source}")
            dump = Path(tmp) / "database.sqlite3"
            src = sqlite3.connect(str(source))
            dst = sqlite3.connect(str(dump))
            try:
                src.backup(dst)  # consistent even while the server writes
            finally:
                dst.close()
                src.close()
        else:
            dump = Path(tmp) / "database.pgdump"
            _run(
                ["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), _pg_dsn(database_url)],
                _pg_env(database_url),
            )
        files = 0
        with tarfile.open(partial, "w:gz") as archive:
            manifest = {"format": FORMAT, "database": kind, "created_at": utcnow().isoformat()}
            _add_bytes(archive, "manifest.json", json.dumps(manifest).encode())
            archive.add(dump, arcname=dump.name)
            if data_dir.is_dir():
                for path in sorted(data_dir.rglob("*")):
                    if path.is_file():
                        archive.add(path, arcname="data/" + path.relative_to(data_dir).as_posix())
                        files += 1
    partial.replace(target)
    return BackupSummary(path=target, database=kind, files=files, size=target.stat().st_size)


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    out = {}
    for m in archive.getmembers():
        if m.name.startswith("/") or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
            raise BackupError(f"unsafe entry in the backup: {m.name}")
        out[m.name] = m
    return out


def restore(database_url: str, data_dir: Path, source: Path) -> BackupSummary:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if not tarfile.is_tarfile(source):
        raise BackupError(f"{source} is not an inbox backup")
    with tarfile.open(source, "r:gz") as archive, tempfile.TemporaryDirectory(prefix="inbox-restore-") as tmp:
        members = _members(archive)
        if "manifest.json" not in members:
            raise BackupError(f"{source} is not an inbox backup (no manifest.json)")
        manifest = json.loads(archive.extractfile(members["manifest.json"]).read())  # type: ignore[union-attr]
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}")
        if manifest.get("database") != kind:
            raise BackupError(
                f"this is a {manifest.get('database')} backup and INBOX_DATABASE_URL is {kind}: restore it "
                "into the same kind of database, then move with `inbox db copy --to URL`"
            )
        archive.extractall(tmp, filter="data")
        if kind == "sqlite":
            target = sqlite_path(database_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(target.name + ".restoring")
            shutil.copyfile(Path(tmp) / "database.sqlite3", staged)
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            staged.replace(target)
        else:
            _run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    "--dbname",
                    _pg_dsn(database_url),
                    str(Path(tmp) / "database.pgdump"),
                ],
                _pg_env(database_url),
            )
        files = 0
        extracted = Path(tmp) / "data"
        if extracted.is_dir():
            for path in sorted(extracted.rglob("*")):
                if path.is_file():
                    dest = data_dir / path.relative_to(extracted)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dest)
                    files += 1
    return BackupSummary(path=source, database=kind, files=files, size=source.stat().st_size)


# ---- copy SQLite -> PostgreSQL ----------------------------------------------------------------------

BATCH = 1000


def _self_refs(table: Table) -> list[str]:
    return [c.name for c in table.columns if any(fk.column.table is table for fk in c.foreign_keys)]


async def _move_sequence(conn: Any, table: Table) -> None:
    columns = list(table.primary_key.columns)
    if len(columns) != 1 or columns[0].type.python_type is not int:
        return
    col = columns[0].name
    seq = (
        await conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col})
    ).scalar()
    if seq:
        top = f"(SELECT max({col}) FROM {table.name})"
        await conn.execute(text(f"SELECT setval(:s, COALESCE({top}, 1), {top} IS NOT NULL)"), {"s": seq})


async def copy_database(
    source_url: str, target_url: str, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every table (in foreign-key order; self-references filled in afterwards) into an empty,
    migrated target, then move the target's id sequences past the copied ids. One transaction."""
    from inbox.db import make_engine

    source = make_engine(source_url)
    target = make_engine(target_url)
    counts: dict[str, int] = {}
    try:
        async with target.begin() as dst:
            for name in ("customer", "message", "manager", "channel_account"):
                table = Base.metadata.tables[name]
                if (await dst.execute(select(func.count()).select_from(table))).scalar_one():
                    raise BackupError(
                        f"the target database is not empty (table {name} has rows): copy into a new database"
                    )
            for table in reversed(Base.metadata.sorted_tables):  # reference rows the migrations seeded
                await dst.execute(delete(table))
            async with source.connect() as src:
                for table in Base.metadata.sorted_tables:
                    refs = _self_refs(table)
                    later: list[dict[str, Any]] = []
                    n = 0
                    result = await src.stream(select(table))
                    async for chunk in result.mappings().partitions(BATCH):
                        rows = [dict(r) for r in chunk]
                        if refs:
                            pk = [c.name for c in table.primary_key.columns]
                            later += [
                                {**{f"_pk_{k}": r[k] for k in pk}, **{c: r[c] for c in refs}}
                                for r in rows
                                if any(r[c] is not None for c in refs)
                            ]
                            rows = [{**r, **dict.fromkeys(refs)} for r in rows]
                        await dst.execute(insert(table), rows)
                        n += len(rows)
                        if progress:
                            progress(table.name, n)
                    if later:
                        pk = [c.name for c in table.primary_key.columns]
                        stmt = (
                            update(table)
                            .where(*[table.c[k] == bindparam(f"_pk_{k}") for k in pk])
                            .values({c: bindparam(c) for c in refs})
                        )
                        await dst.execute(stmt, later)
                    counts[table.name] = n
            if dst.dialect.name == "postgresql":
                for table in Base.metadata.sorted_tables:
                    await _move_sequence(dst, table)
    finally:
        await source.dispose()
        await target.dispose()
    return counts
