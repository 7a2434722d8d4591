"""The `inbox` command. Every command prints a clear message and exits non-zero on bad input."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from inbox.core.security import check_password_strength, hash_password, new_api_token, token_digest
from inbox.db import make_engine, make_session_factory, transaction
from inbox.models import ApiToken, ChannelAccount, Manager
from inbox.settings import Settings, SettingsError

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable


def secret_box(settings: Settings) -> Any:
    from inbox.core.secretbox import SecretBox

    return SecretBox(settings.secret_key, settings.secret_key_old)


def run_db(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def _go() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await fn(make_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_go())
    except OperationalError as exc:
        msg = str(exc.orig) if exc.orig else str(exc)
        if "no such table" in msg or "does not exist" in msg:
            fail("the database has no schema yet: run `inbox db upgrade` first")
        fail(f"database error: {msg}")
        raise
    except OSError as exc:
        fail(f"cannot reach the database ({settings.database_url.split('@')[-1]}): {exc}")
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="More logging.")
def main(verbose: bool) -> None:
    """inbox: one thread per customer across Telegram, VK, email, SMS and the shop's website chat."""
    from inbox import logs
    from inbox.settings import log_format

    try:
        fmt = log_format()
    except SettingsError as exc:
        fail(str(exc))
        raise
    logs.configure(fmt, verbose=verbose)


# ---- db -------------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version."""
    from inbox.migrate import upgrade

    settings = load_settings()
    try:
        upgrade(settings.database_url)
    except OperationalError as exc:
        fail(f"cannot migrate the database: {exc.orig}")
    except OSError as exc:
        fail(f"cannot reach the database: {exc}")
    from inbox.core.secretbox import seal_all

    sealed = run_db(settings, lambda factory: seal_all(factory, secret_box(settings), only_plaintext=True))
    if sealed:
        console.print(f"encrypted the secrets of {sealed} channel, payment or carrier account(s)")
    console.print("[green]database is up to date[/]")


# ---- secret ----------------------------------------------------------------------------------------------


@main.group()
def secret() -> None:
    """Secrets at rest and the signing key."""


@secret.command("rotate")
def secret_rotate() -> None:
    """Re-encrypt channel, payment and carrier secrets under a new INBOX_SECRET_KEY (the previous key in
    INBOX_SECRET_KEY_OLD).

    Run it once the new key is set everywhere; keep INBOX_SECRET_KEY_OLD set until sessions, CSRF tokens and
    signed bot buttons from before have expired (a day is plenty), then unset it."""
    from inbox.core.secretbox import SecretsUnreadable, seal_all

    settings = load_settings()
    if not settings.secret_key_old:
        fail("set INBOX_SECRET_KEY_OLD to the previous key (and INBOX_SECRET_KEY to the new one)")
    if settings.secret_key_old == settings.secret_key:
        fail("INBOX_SECRET_KEY_OLD is the same as INBOX_SECRET_KEY: set INBOX_SECRET_KEY to the new key")
    try:
        count = run_db(
            settings, lambda factory: seal_all(factory, secret_box(settings), only_plaintext=False)
        )
    except SecretsUnreadable as exc:
        fail(str(exc))
    console.print(
        f"[green]re-encrypted the secrets of {count} channel, payment or carrier account(s)"
        " under the new key[/]"
    )


@db.command("backup")
@click.argument("file", type=click.Path(path_type=Path))
def db_backup(file: Path) -> None:
    """Write a backup (.tar.gz): the database (online, safe while serving) and the data directory."""
    from inbox.backup import BackupError, backup

    settings = load_settings()
    try:
        done = backup(settings.database_url, settings.data_dir, file)
    except BackupError as exc:
        fail(str(exc))
        raise
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
        raise
    console.print(
        f"backup of the {done.database} database and {done.files} files written to {file} ({done.size} bytes)"
    )


@db.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_restore(file: Path, yes: bool) -> None:
    """Replace the database and the data directory's files with a backup. Stop `inbox serve` first."""
    from inbox.backup import BackupError, restore

    if not file.is_file():
        fail(f"cannot read {file}: no such file")
    if not yes and sys.stdin.isatty():
        click.confirm("Replace the current database with the backup?", abort=True)
    settings = load_settings()
    try:
        done = restore(settings.database_url, settings.data_dir, file)
    except BackupError as exc:
        fail(str(exc))
        raise
    console.print(f"{done.database} database and {done.files} files restored from {file}")


@db.command("copy")
@click.option("--to", "to", required=True, help="The new database: postgresql://user@host/db (empty).")
def db_copy(to: str) -> None:
    """Copy everything from the current database (SQLite) into a new PostgreSQL database."""
    from inbox.backup import BackupError, copy_database
    from inbox.migrate import upgrade

    settings = load_settings()
    if to.startswith(("postgresql://", "postgres://")):
        to = "postgresql+asyncpg://" + to.split("://", 1)[1]
    if not to.startswith("postgresql+asyncpg://"):
        fail("--to must be a PostgreSQL URL: postgresql://user@host/db")
    if not settings.is_sqlite:
        fail("inbox db copy moves an SQLite database to PostgreSQL; INBOX_DATABASE_URL is not SQLite")
    try:
        upgrade(settings.database_url)
        upgrade(to)
    except OperationalError as exc:
        fail(f"cannot migrate: {exc.orig}")
    except OSError as exc:
        fail(f"cannot reach {to.split('@')[-1]}: {exc}")
    try:
        counts = asyncio.run(copy_database(settings.database_url, to))
    except BackupError as exc:
        fail(str(exc))
        raise
    except OSError as exc:
        fail(f"cannot reach {to.split('@')[-1]}: {exc}")
        raise
    table = Table("table", "rows", title="copied")
    for name, n in counts.items():
        if n:
            table.add_row(name, str(n))
    console.print(table)
    console.print(
        f"done: {sum(counts.values())} rows. Now set INBOX_DATABASE_URL={to.split('+asyncpg', 1)[0]}"
        f"://{to.split('://', 1)[1]}"
    )


# ---- serve / worker --------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-workers", is_flag=True, help="Web only; run `inbox worker` elsewhere.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes (PostgreSQL + Redis only); the channel workers then run as one extra process.",
)
def serve(host: str, port: int, no_workers: bool, processes: int) -> None:
    """Web inbox + channel workers + outbox dispatcher."""
    import uvicorn

    from inbox.migrate import upgrade
    from inbox.web.app import create_app

    settings = load_settings()
    if processes > 1 and settings.is_sqlite:
        fail(
            "--processes N needs PostgreSQL: SQLite has one writer, so it runs as one process. "
            "Set INBOX_DATABASE_URL=postgresql://… (move the data with `inbox db copy --to URL`)."
        )
    if processes > 1 and not settings.redis_url:
        fail("--processes N needs INBOX_REDIS_URL, which carries live updates between the processes")
    if settings.is_sqlite:
        upgrade(settings.database_url)  # the embedded default keeps itself up to date
    console.print(
        f"[bold]inbox[/] on [link]http://{host}:{port}/[/link]  (database: "
        f"{'SQLite' if settings.is_sqlite else 'PostgreSQL'}, live updates: "
        f"{'Redis' if settings.redis_url else 'in-process'}"
        + (f", {processes} web processes" if processes > 1 else "")
        + ")"
    )
    common: dict[str, Any] = dict(
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # our handlers: one line per event, JSON when asked
        # X-Forwarded-* are believed only from INBOX_TRUSTED_PROXIES (inbox.web.proxy), not by uvicorn.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    if processes == 1:
        uvicorn.run(create_app(settings, run_workers=not no_workers), **common)
        return
    from inbox.cluster import WorkerChild, multiprocess_metrics_dir

    os.environ["INBOX_RUN_WORKERS"] = "false"  # the web processes read it in app_from_env
    multiprocess_metrics_dir()
    child = None if no_workers else WorkerChild().start()
    try:
        uvicorn.run("inbox.web.app:app_from_env", factory=True, workers=processes, **common)
    finally:
        if child is not None:
            child.stop()


@main.command()
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(["dispatch", "pollers", "scheduler"]),
    help="Run only these roles (repeatable): dispatch = outbox; pollers = channel pollers and the inbound "
    "processor; scheduler = order timers, alerts, clean-up. Default: all.",
)
def worker(only: tuple[str, ...]) -> None:
    """Channel pollers, inbound processor and outbox dispatcher, without the web server."""
    from inbox import health
    from inbox.core.events import EventBus
    from inbox.gcpolicy import freeze_long_lived
    from inbox.web.live import ClusterWake, make_channels_plugin
    from inbox.workers import Workers

    settings = load_settings()
    roles = frozenset(only or health.ROLES)
    if settings.is_sqlite and roles != frozenset(health.ROLES):
        fail("--only needs PostgreSQL: on SQLite one process does all the work")

    async def _go() -> None:
        engine = make_engine(settings.database_url)
        plugin = make_channels_plugin(settings.redis_url)
        await plugin._on_startup()
        workers = Workers(
            engine=engine,
            factory=make_session_factory(engine),
            settings=settings,
            bus=EventBus(plugin),
            roles=roles,
            cluster=ClusterWake(plugin) if settings.redis_url else None,
        )
        workers.start()
        freeze_long_lived()  # no full-collection pauses over what start-up loaded (inbox.gcpolicy)
        console.print(f"worker running ({', '.join(sorted(roles))}); Ctrl+C stops it")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await workers.close()
            await plugin._on_shutdown()
            await engine.dispose()

    asyncio.run(_go())


# ---- personal data ---------------------------------------------------------------------------------------


@main.group()
def customer() -> None:
    """Personal data on request (152-ФЗ / GDPR): export and erase a customer."""


@customer.command("export")
@click.argument("customer_id", type=click.IntRange(min=1))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Directory (default: ./customer-ID).")
def customer_export(customer_id: int, out: Path | None) -> None:
    """Write everything about a customer: customer-ID.json and the attachment files."""
    from inbox.privacy import NotFound, export_customer
    from inbox.team import audit

    settings = load_settings()
    target = out or Path.cwd() / f"customer-{customer_id}"
    if target.exists() and not target.is_dir():
        fail(f"{target} exists and is not a directory")

    async def _go(factory: Any) -> Any:
        try:
            async with transaction(factory) as session:
                result = await export_customer(session, customer_id, target, settings.data_dir)
                await audit.record(
                    session, None, "customer.export", f"customer {customer_id}", via="cli", files=result.files
                )
                return result
        except NotFound as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}")

    result = run_db(settings, _go)
    console.print(
        f"customer {customer_id} exported to {result.path} "
        f"({sum(result.tables.values())} records, {result.files} files)"
    )


@customer.command("erase")
@click.argument("customer_id", type=click.IntRange(min=1))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def customer_erase(customer_id: int, yes: bool) -> None:
    """Erase a customer everywhere (messages, raw payloads, outbox, files, tombstones); orders are kept
    anonymised. Cannot be undone."""
    from inbox.privacy import NotFound, erase_customer
    from inbox.team import audit

    if not yes and sys.stdin.isatty():
        click.confirm(f"Erase customer {customer_id} and all their messages for good?", abort=True)
    settings = load_settings()

    async def _go(factory: Any) -> Any:
        try:
            async with transaction(factory) as session:
                result = await erase_customer(session, customer_id, settings.data_dir)
                await audit.record(
                    session,
                    None,
                    "customer.erase",
                    f"customer {customer_id}",
                    via="cli",
                    deleted=result.deleted,
                    files=result.files,
                    raw_payloads=result.raw_payloads,
                )
                return result
        except NotFound as exc:
            fail(str(exc))

    result = run_db(settings, _go)
    console.print(
        f"customer {customer_id} erased: {sum(result.deleted.values())} records deleted, "
        f"{result.raw_payloads} raw payloads blanked, {result.files} files removed, "
        f"{result.anonymised.get('orders', 0)} orders anonymised"
    )


# ---- demo ------------------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--port", default=8000, show_default=True, help="the port `inbox serve` will use (the demo site's widget)"
)
def demo(port: int) -> None:
    """Seed a demo shop (customers, Russian conversations, a manager login). Safe to run twice."""
    from inbox.demo import DEMO_EMAIL, seed
    from inbox.demo.shop import seed_shop

    settings = load_settings()
    result = run_db(settings, seed)
    shop = run_db(settings, lambda factory: seed_shop(factory, settings, DEMO_EMAIL, port=port))
    if result is None and not shop:
        console.print("demo data is already there")
        return
    if result is None:
        console.print(
            "[green]demo shop added[/] (catalog, orders, email, bot conversation, website widget, payments, "
            "a parcel, repeat sales)"
        )
        return
    email, password = result
    console.print("[green]demo data created[/]")
    console.print(f"sign in as [bold]{email}[/] with password [bold]{password}[/]")


@customer.command("consent-import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--channel", required=True, help="a channel kind: telegram, vk, email, sms, widget…")
@click.option("--no", "refused", is_flag=True, help="record a refusal instead of a consent")
@click.option("--source", default="import", show_default=True)
def customer_consent_import(file: Path, channel: str, refused: bool, source: str) -> None:
    """Marketing consent collected elsewhere, for the customers FILE names (CSV: id, phone or email)."""
    from inbox.customer_card.consent import ConsentError
    from inbox.sales import SalesError
    from inbox.sales.consent import import_consent

    try:
        data = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
        raise
    settings = load_settings()

    async def _go(factory: Any) -> tuple[int, int, int]:
        try:
            async with transaction(factory) as session:
                return await import_consent(session, data, channel, not refused, source)
        except (ConsentError, SalesError) as exc:
            fail(f"{file}: {exc}")
            raise

    recorded, kept, missing = run_db(settings, _go)
    console.print(
        f"{recorded} recorded, {kept} kept as they said no themselves, {missing} rows matched no customer"
    )


# ---- managers and tokens ---------------------------------------------------------------------------------


@main.group()
def manager() -> None:
    """Managers who sign in to the web inbox."""


@manager.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["admin", "manager"]), default="manager", show_default=True)
@click.option("--locale", type=click.Choice(["ru", "en"]), default="ru", show_default=True)
def manager_create(email: str, name: str, password: str, role: str, locale: str) -> None:
    """Add a manager."""
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        fail(f"not an email address: {email!r}")
    try:
        check_password_strength(password)
    except ValueError as exc:
        fail(str(exc))
    settings = load_settings()

    async def _go(factory: Any) -> int:
        try:
            async with transaction(factory) as session:
                row = Manager(
                    email=email,
                    name=name.strip(),
                    password_hash=hash_password(password),
                    role=role,
                    locale=locale,
                )
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            fail(f"a manager with email {email} already exists")
            raise

    manager_id = run_db(settings, _go)
    console.print(f"manager {manager_id} created: {email} ({role})")


@main.group()
def token() -> None:
    """API tokens for /api/v1."""


@token.command("create")
@click.option("--name", required=True, help="Who uses it, e.g. erp or site.")
def token_create(name: str) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    name = name.strip()
    if not name:
        fail("--name must not be empty")
    settings = load_settings()
    value = new_api_token()

    async def _go(factory: Any) -> None:
        try:
            async with transaction(factory) as session:
                session.add(ApiToken(name=name, token_sha256=token_digest(value)))
        except IntegrityError:
            fail(f"a token named {name!r} already exists")

    run_db(settings, _go)
    console.print(f"token [bold]{name}[/] created. Use it as: Authorization: Bearer {value}")
    click.echo(value)


# ---- channels --------------------------------------------------------------------------------------------


@main.group()
def channel() -> None:
    """Channel accounts: Telegram bots, VK communities, mailboxes, SMS numbers, website chat widgets."""


@channel.group("add")
def channel_add() -> None:
    """Connect a channel account."""


def _option(f: Any) -> click.Option:
    """A schema field -> its click option. Values reach the schema as text: it validates them once."""
    decls = [f.flag, f.name]
    help_text = f.help or None
    if f.type == "bool":
        return click.Option(decls, is_flag=True, default=False, help=help_text)
    kwargs: dict[str, Any] = {"help": help_text, "required": False, "multiple": f.multiple}
    if f.type == "choice":
        kwargs["type"] = click.Choice(list(f.choices))
    else:
        kwargs["metavar"] = {"int": "INTEGER", "float": "NUMBER", "url": "URL"}.get(f.type, "TEXT")
    if f.default is not None and not f.multiple:
        kwargs["default"] = str(f.default)
        kwargs["show_default"] = True
    elif f.required:
        kwargs["help"] = f"{help_text or ''} (required)".strip()
    return click.Option(decls, **kwargs)


def _add_command(kind: str, label: str, config: Any) -> click.Command:
    def run(name: str, **raw: Any) -> None:
        add_channel_account(kind, name, raw)

    params: list[click.Parameter] = [click.Option(["--name", "name"], required=True)]
    params += [_option(f) for f in config.fields]
    return click.Command(kind, callback=run, params=params, help=f"Connect a channel account ({label}).")


def add_channel_account(kind: str, name: str, raw: dict[str, Any]) -> int:
    """Validate through the kind's schema (messages in English, options as --flags), store, audit, print the
    kind's after-add lines."""
    from inbox import i18n
    from inbox.channels.accounts import after_add_lines, create_account
    from inbox.channels.config import ConfigError
    from inbox.core.kinds import capabilities
    from inbox.team import audit

    settings = load_settings()
    box = secret_box(settings)

    async def _go(factory: Any) -> tuple[ChannelAccount, dict[str, Any], dict[str, Any]]:
        with i18n.use_locale("en"):
            try:
                async with transaction(factory) as session:
                    row, settings_, secrets_ = await create_account(session, box, kind, name, raw, settings)
                    await audit.record(session, None, "channel.add", row.name, account_id=row.id, kind=kind)
                    return row, settings_, secrets_
            except ConfigError as exc:
                fail(str(exc))
                raise
            except IntegrityError:
                fail(f"a channel account named {name.strip()!r} already exists")
                raise

    row, settings_, secrets_ = run_db(settings, _go)
    console.print(f"{kind} account {row.id} ({row.name}) added")
    for line in after_add_lines(row, settings_, secrets_, settings):
        click.echo(line)  # plain: a wrapped URL cannot be pasted
    if capabilities(kind).history_sync and not raw.get("no_sync"):
        first_sync(row.id)
    return row.id


def _register_add_commands() -> None:
    from inbox.channels.registry import SPECS

    for spec in SPECS.values():
        if spec.config is not None:
            channel_add.add_command(_add_command(str(spec.kind), spec.label, spec.config))


_register_add_commands()


def first_sync(account_id: int) -> None:
    """Fetch the account's history (a mailbox: the lookback window) with a progress bar, for a kind that
    declares ``history_sync``; what arrives is committed as raw events and becomes messages in the running
    (or next) `inbox serve`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from inbox.channels.hub import account_config
    from inbox.channels.registry import build_channel
    from inbox.core.ingest import store_raw
    from inbox.core.types import RawEvent
    from inbox.workers import DbPollState

    settings = load_settings()

    async def _go(factory: Any) -> Any:
        async with factory() as session:
            row = await session.get(ChannelAccount, account_id)
        channel: Any = build_channel(account_config(row, secret_box(settings)), settings)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            tasks: dict[str, Any] = {}

            def progress(p: Any) -> None:
                if p.folder not in tasks:
                    tasks[p.folder] = bar.add_task(f"{p.folder}", total=p.total or None)
                bar.update(tasks[p.folder], completed=p.done, total=p.total or None)

            async def sink(events: list[RawEvent]) -> None:
                await store_raw(factory, account_id, events)

            try:
                return await channel.sync_once(sink, DbPollState(factory, account_id), progress)
            finally:
                await channel.close()

    try:
        summary = run_db(settings, _go)
    except Exception as exc:  # the account stays; the server retries with backoff
        err.print(f"[yellow]first sync failed:[/] {exc}. `inbox serve` will keep trying.")
        sys.exit(1)
    console.print(
        f"first sync: {summary.fetched} letters fetched, {summary.skipped} skipped, "
        f"{summary.errors} errors" + (f", {summary.resets} folders re-synced" if summary.resets else "")
    )


@channel.command("list")
def channel_list() -> None:
    """Show connected channel accounts."""
    settings = load_settings()

    async def _go(factory: Any) -> list[ChannelAccount]:
        async with factory() as session:
            return list((await session.execute(select(ChannelAccount).order_by(ChannelAccount.id))).scalars())

    rows = run_db(settings, _go)
    if not rows:
        console.print("no channel accounts yet: `inbox channel add telegram --name shop --token …`")
        return
    table = Table("id", "kind", "name", "mode", "enabled")
    for r in rows:
        mode = str(r.settings.get("mode", "")) + (" (demo)" if r.settings.get("demo") else "")
        table.add_row(str(r.id), r.kind, r.name, mode, "yes" if r.enabled else "no")
    console.print(table)


# ---- payment providers ----------------------------------------------------------------------------------


@main.group()
def payment() -> None:
    """Payment provider accounts (YooKassa, Telegram Payments)."""


@payment.group("add")
def payment_add() -> None:
    """Connect a payment provider account."""


def _http_url(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) > 500:
        fail(f"{option} must be an http(s) URL")
    return value


@payment_add.command("yookassa")
@click.option("--name", required=True)
@click.option("--shop-id", required=True, help="shopId from the YooKassa dashboard (digits).")
@click.option("--secret-key", required=True, help="The secret key (live_… or test_…).")
@click.option("--api-base", help="Another API endpoint (proxy, test emulator), e.g. http://127.0.0.1:8030.")
@click.option("--return-url", help="Where the customer returns after paying (default: INBOX_PUBLIC_URL).")
def payment_add_yookassa(
    name: str, shop_id: str, secret_key: str, api_base: str | None, return_url: str | None
) -> None:
    """Connect a YooKassa shop: payment links, notifications at /webhooks/yookassa/<id>."""
    from inbox.models import PaymentAccount

    name, shop_id, secret_key = name.strip(), shop_id.strip(), secret_key.strip()
    if not name or len(name) > 100:
        fail("--name must be 1 to 100 characters")
    if not shop_id.isdigit():
        fail("--shop-id must be digits (the shopId from the YooKassa dashboard)")
    if not secret_key or any(c.isspace() for c in secret_key) or len(secret_key) > 200:
        fail("--secret-key must be the secret key from the YooKassa dashboard")
    settings_: dict[str, Any] = {"shop_id": shop_id}
    if (base := _http_url("--api-base", api_base)) is not None:
        settings_["api_base"] = base
    if (back := _http_url("--return-url", return_url)) is not None:
        settings_["return_url"] = back
    settings = load_settings()

    async def _go(factory: Any) -> int:
        try:
            async with transaction(factory) as session:
                row = PaymentAccount(
                    kind="yookassa",
                    name=name,
                    settings=settings_,
                    secrets=secret_box(settings).seal({"secret_key": secret_key}),
                )
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            fail(f"a payment account named {name!r} already exists")
            raise

    account_id = run_db(settings, _go)
    console.print(f"yookassa account {account_id} ({name}) added")
    base_url = (settings.public_url or "https://your.host").rstrip("/")
    click.echo(
        f"notifications URL (set it in the YooKassa dashboard): {base_url}/webhooks/yookassa/{account_id}"
    )


@payment_add.command("telegram")
@click.option("--name", required=True)
@click.option("--channel", "channel_name", required=True, help="The Telegram channel account (name or id).")
@click.option("--provider-token", required=True, help="The payment provider token from @BotFather.")
def payment_add_telegram(name: str, channel_name: str, provider_token: str) -> None:
    """Connect Telegram Payments to a Telegram bot: invoices in the chat, pre-checkout answered at once."""
    from inbox.models import PaymentAccount

    name, provider_token = name.strip(), provider_token.strip()
    if not name or len(name) > 100:
        fail("--name must be 1 to 100 characters")
    if not provider_token or any(c.isspace() for c in provider_token) or len(provider_token) > 200:
        fail("--provider-token must be the token @BotFather gave for the payment provider")
    settings = load_settings()

    async def _go(factory: Any) -> int:
        async with transaction(factory) as session:
            cond = ChannelAccount.name == channel_name.strip()
            if channel_name.strip().isdigit():
                cond = cond | (ChannelAccount.id == int(channel_name))
            bot = (await session.execute(select(ChannelAccount).where(cond))).scalars().first()
            if bot is None or bot.kind != "telegram":
                fail(f"no telegram channel account {channel_name!r}: see `inbox channel list`")
                raise SystemExit(2)
            try:
                async with session.begin_nested():
                    row = PaymentAccount(
                        kind="telegram",
                        name=name,
                        settings={"channel_id": bot.id},
                        secrets=secret_box(settings).seal({"provider_token": provider_token}),
                    )
                    session.add(row)
                    await session.flush()
            except IntegrityError:
                fail(f"a payment account named {name!r} already exists")
                raise
            return row.id

    account_id = run_db(settings, _go)
    console.print(f"telegram payments account {account_id} ({name}) added")


@payment.command("list")
def payment_list() -> None:
    """Show payment provider accounts."""
    from inbox.orders.payments.accounts import list_accounts

    settings = load_settings()

    async def _go(factory: Any) -> list[Any]:
        async with factory() as session:
            return await list_accounts(session)

    rows = run_db(settings, _go)
    if not rows:
        console.print(
            "no payment accounts yet: `inbox payment add yookassa --name main --shop-id … --secret-key …`"
        )
        return
    table = Table("id", "kind", "name", "shop", "api", "enabled")
    for r in rows:
        api = str(r.settings.get("api_base") or "default")
        shop = str(r.settings.get("shop_id") or f"channel {r.settings.get('channel_id', '')}")
        table.add_row(str(r.id), r.kind, r.name, shop, api, "yes" if r.enabled else "no")
    console.print(table)


# ---- carriers -----------------------------------------------------------------------------------------


@main.group()
def carrier() -> None:
    """Carrier accounts (СДЭК, Почта России, Boxberry): handing over, tracking, delivery cost."""


@carrier.group("add")
def carrier_add() -> None:
    """Connect a carrier account."""


def add_carrier(kind: str, name: str, settings_: dict[str, Any], secrets: dict[str, Any]) -> int:
    from inbox.models import CarrierAccount

    name = name.strip()
    if not name or len(name) > 100:
        fail("--name must be 1 to 100 characters")
    for option, value in secrets.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            fail(f"--{option.replace('_', '-')} must not be empty")
    settings = load_settings()

    async def _go(factory: Any) -> int:
        try:
            async with transaction(factory) as session:
                row = CarrierAccount(
                    kind=kind,
                    name=name,
                    settings=settings_,
                    secrets=secret_box(settings).seal(secrets),
                    state={},
                )
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            fail(f"a carrier account named {name!r} already exists")
            raise

    account_id = run_db(settings, _go)
    console.print(f"{kind} account {account_id} ({name}) added")
    return account_id


@carrier_add.command("cdek")
@click.option("--name", required=True)
@click.option("--client-id", required=True, help="Account (client_id) from the СДЭК integration settings.")
@click.option("--client-secret", required=True, help="Secure password (client_secret).")
@click.option("--api-base", help="Another API endpoint: https://api.edu.cdek.ru (test), an emulator.")
@click.option("--shipment-point", help="The СДЭК office code parcels are handed over at.")
@click.option("--tariff-code", type=click.IntRange(min=1), default=136, show_default=True)
def carrier_add_cdek(
    name: str,
    client_id: str,
    client_secret: str,
    api_base: str | None,
    shipment_point: str | None,
    tariff_code: int,
) -> None:
    """Connect СДЭК: register orders with labels, ORDER_STATUS webhooks at /webhooks/cdek/<id>."""
    settings_: dict[str, Any] = {"tariff_code": tariff_code}
    if (base := _http_url("--api-base", api_base)) is not None:
        settings_["api_base"] = base
    if shipment_point:
        settings_["shipment_point"] = shipment_point.strip()
    account_id = add_carrier(
        "cdek", name, settings_, {"client_id": client_id.strip(), "client_secret": client_secret.strip()}
    )
    public = (load_settings().public_url or "https://your.host").rstrip("/")
    click.echo(f"ORDER_STATUS webhook URL: {public}/webhooks/cdek/{account_id}")


@carrier_add.command("russianpost")
@click.option("--name", required=True)
@click.option("--login", required=True, help="Tracking API login.")
@click.option("--password", required=True, help="Tracking API password.")
@click.option("--api-base", help="Another API endpoint (an emulator).")
@click.option("--poll-interval", type=click.IntRange(min=1), default=1800, show_default=True, help="Seconds.")
def carrier_add_russianpost(
    name: str, login: str, password: str, api_base: str | None, poll_interval: int
) -> None:
    """Connect Почта России tracking by barcode (polled every --poll-interval seconds)."""
    settings_: dict[str, Any] = {"poll_interval": poll_interval}
    if (base := _http_url("--api-base", api_base)) is not None:
        settings_["api_base"] = base
    add_carrier("russianpost", name, settings_, {"login": login.strip(), "password": password})


@carrier_add.command("boxberry")
@click.option("--name", required=True)
@click.option("--token", "bb_token", required=True, help="The API token from the Boxberry account.")
@click.option("--api-base", help="Another API endpoint (an emulator).")
@click.option("--poll-interval", type=click.IntRange(min=1), default=1800, show_default=True, help="Seconds.")
def carrier_add_boxberry(name: str, bb_token: str, api_base: str | None, poll_interval: int) -> None:
    """Connect Boxberry tracking by number (polled every --poll-interval seconds)."""
    settings_: dict[str, Any] = {"poll_interval": poll_interval}
    if (base := _http_url("--api-base", api_base)) is not None:
        settings_["api_base"] = base
    add_carrier("boxberry", name, settings_, {"token": bb_token.strip()})


@carrier.command("list")
def carrier_list() -> None:
    """Show carrier accounts."""
    from inbox.orders.carriers.service import list_accounts

    settings = load_settings()

    async def _go(factory: Any) -> list[Any]:
        async with factory() as session:
            return await list_accounts(session)

    rows = run_db(settings, _go)
    if not rows:
        console.print(
            "no carrier accounts yet: `inbox carrier add cdek --name … --client-id … --client-secret …`"
        )
        return
    table = Table("id", "kind", "name", "api", "poll, s", "enabled")
    for r in rows:
        table.add_row(
            str(r.id),
            r.kind,
            r.name,
            str(r.settings.get("api_base") or "default"),
            str(r.settings.get("poll_interval") or "webhooks"),
            "yes" if r.enabled else "no",
        )
    console.print(table)


# ---- catalog and orders ----------------------------------------------------------------------------------


@main.group()
def catalog() -> None:
    """The product catalog."""


@catalog.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "yml", "commerceml"]), help="Default: detected.")
@click.option("--warehouse", default="main", show_default=True, help="Warehouse code for stock quantities.")
def catalog_import(file: Path, fmt: str | None, warehouse: str) -> None:
    """Import products, prices and stock from CSV, YML (Yandex Market) or CommerceML (1C)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from inbox.orders.errors import ImportFormatError
    from inbox.orders.importers import ImportSummary, import_catalog

    if not file.is_file():
        fail(f"cannot read {file}: no such file")
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    settings = load_settings()
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress("[progress.description]{task.description}", *columns, console=err) as bar:
        task = bar.add_task(file.name, total=file.stat().st_size or 1)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or 1)

        async def _go(factory: Any) -> ImportSummary:
            try:
                return await import_catalog(factory, file, fmt, warehouse=warehouse, progress=progress)
            except ImportFormatError as exc:
                fail(f"cannot import {file.name}: {exc.reason}")
                raise

        summary = run_db(settings, _go)
    table = Table("created", "updated", "unchanged", "rejected", title=f"{file.name} ({summary.fmt})")
    table.add_row(
        str(summary.created), str(summary.updated), str(summary.unchanged), str(len(summary.rejected))
    )
    console.print(table)
    where = "line" if summary.fmt == "csv" else "element"
    if summary.rejected:
        rejected = Table(where, "reason", title="rejected")
        for r in summary.rejected:
            rejected.add_row(str(r.position), r.reason)
        console.print(rejected)
    if summary.warnings:
        warned = Table(where, "warning", title="imported with warnings")
        for r in summary.warnings:
            warned.add_row(str(r.position), r.reason)
        console.print(warned)


@main.group()
def orders() -> None:
    """Orders: the status configuration."""


@orders.group("statuses")
def order_statuses() -> None:
    """Order statuses, transitions and notification templates as TOML."""


@order_statuses.command("export")
@click.argument("file", type=click.Path(path_type=Path))
def statuses_export(file: Path) -> None:
    """Write the status configuration to FILE (``-`` for stdout)."""
    from inbox.orders.statuses import dump_toml, export_statuses

    settings = load_settings()

    async def _go(factory: Any) -> str:
        async with factory() as session:
            return dump_toml(await export_statuses(session))

    text = run_db(settings, _go)
    if str(file) == "-":
        click.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    console.print(f"statuses written to {file}")


@order_statuses.command("import")
@click.argument("file", type=click.Path(path_type=Path))
def statuses_import(file: Path) -> None:
    """Replace the status configuration with FILE (validated first; nothing changes on an error)."""
    from inbox.orders.errors import OrdersError
    from inbox.orders.statuses import parse_toml, replace_statuses

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
        raise
    try:
        defs = parse_toml(text)
    except OrdersError as exc:
        fail(f"{file}: {exc.reason}")
        raise
    settings = load_settings()

    async def _go(factory: Any) -> None:
        try:
            async with transaction(factory) as session:
                await replace_statuses(session, defs)
        except OrdersError as exc:
            fail(f"{file}: {exc.reason}")

    run_db(settings, _go)
    console.print(f"{len(defs)} statuses imported from {file}")


if __name__ == "__main__":  # pragma: no cover
    main()
