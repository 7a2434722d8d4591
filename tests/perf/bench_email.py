"""Email ingest benchmark: N generated letters in a real dovecot, then the time to take them all in.

  (a) ours: ``EmailChannel.sync_once`` (IMAP UID FETCH in batches, raw events committed) followed by the
      ``InboundProcessor`` until nothing is left (parse, quote folding, customer / identity / thread,
      message, conversation key, order link) — on SQLite by default, ``--db postgresql`` for PostgreSQL;
  (b) django-helpdesk's ``get_email`` (``helpdesk.email.process_email``: imaplib FETCH one by one, a
      ticket or follow-up per letter) on the same letters, in the same run, when it is available.

Prints letters/s for each and the ratio ours / helpdesk.  Run:

    python -m tests.perf.bench_email --n 500 [--db postgresql] [--no-helpdesk]

django-helpdesk is never a dependency of ``inbox``. The benchmark installs it on demand into its own
virtualenv (default ``~/.cache/inbox-bench/helpdesk-venv``, ``--helpdesk-venv`` to change), created with
``python -m venv`` and ``pip install 'django-helpdesk[teams]'`` (its migrations need pinax-teams), and runs
``tests/perf/helpdesk_runner.py`` there, in a separate process with its own SQLite database and a Queue
pointed at the same dovecot. To prepare it by hand:

    python -m venv ~/.cache/inbox-bench/helpdesk-venv
    ~/.cache/inbox-bench/helpdesk-venv/bin/pip install 'django-helpdesk[teams]'

When the venv cannot be created or pip cannot reach an index, (b) is skipped with the reason printed.
helpdesk deletes the letters it has processed (``\\Deleted`` + EXPUNGE), so (a) runs first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from inbox.channels.email.adapter import EmailChannel
from inbox.channels.hub import ChannelHub
from inbox.core.events import EventBus
from inbox.core.ingest import InboundProcessor, store_raw
from inbox.core.types import RawEvent
from inbox.db import make_engine, make_session_factory, transaction
from inbox.migrate import upgrade
from inbox.models import ChannelAccount, Message
from inbox.settings import Settings
from inbox.workers import DbPollState
from tests import services
from tests.dovecot import Dovecot
from tests.perf.peer_venv import peer_python
from tests.perf.table import Row

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = Path.home() / ".cache" / "inbox-bench" / "helpdesk-venv"


def generated_letter(i: int) -> bytes:
    """Letters from 50 senders; every third answers the previous letter of its sender; some carry an
    order number and an HTML part with a quoted history."""
    sender = i % 50
    msg = EmailMessage()
    msg["From"] = f"Клиент {sender} <client{sender}@example.org>"
    msg["To"] = "shop@romashka.ru"
    msg["Date"] = "Tue, 24 Nov 2026 10:00:00 +0300"
    msg["Message-ID"] = f"<bench-{i}@example.org>"
    if i % 3 == 2 and i >= 50:
        prev = i - 50
        msg["Subject"] = f"Re: Вопрос {prev}"
        msg["In-Reply-To"] = f"<bench-{prev}@example.org>"
        msg["References"] = f"<bench-{prev}@example.org>"
    else:
        msg["Subject"] = f"Вопрос {i}" + (f" по заказу №{1000 + i}" if i % 5 == 0 else "")
    body = f"Здравствуйте! Письмо номер {i}. Когда будет доставка?\n\n-- \nКлиент {sender}\n"
    quoted = "".join(f"> Строка переписки {n}\n" for n in range(10))
    msg.set_content(body + "\n" + quoted)
    if i % 2 == 0:
        msg.add_alternative(
            f"<p>Здравствуйте! Письмо номер <b>{i}</b>.</p><blockquote>{quoted}</blockquote>", subtype="html"
        )
    return msg.as_bytes()


async def ours(db_url: str, dovecot: Dovecot, n: int, workdir: Path) -> float:
    settings = Settings(
        database_url=db_url, redis_url=None, secret_key="bench-secret-0123456789", data_dir=workdir / "data"
    )
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    async with transaction(factory) as session:
        row = ChannelAccount(
            kind="email",
            name="bench mail",
            settings={
                "address": "shop@romashka.ru",
                "imap_host": "127.0.0.1",
                "imap_port": dovecot.port,
                "smtp_host": "127.0.0.1",
                "smtp_port": 25,
                "security": "none",
                "username": dovecot.user,
                "folders": ["INBOX"],
                "since_days": 30,
            },
            secrets={"password": dovecot.password},
            state={},
        )
        session.add(row)
        await session.flush()
        account_id = row.id
    hub = ChannelHub(factory, settings)
    processor = InboundProcessor(factory, hub, EventBus(), settings)
    try:
        channel = await hub.get(account_id)
        assert isinstance(channel, EmailChannel)

        async def sink(events: list[RawEvent]) -> None:
            await store_raw(factory, account_id, events)

        started = time.perf_counter()
        summary = await channel.sync_once(sink, DbPollState(factory, account_id))
        while await processor.process_batch():
            pass
        seconds = time.perf_counter() - started
        async with factory() as session:
            stored = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
            conversations = (
                await session.execute(select(func.count(func.distinct(Message.email_conversation))))
            ).scalar_one()
        if summary.fetched != n or stored != n:
            raise SystemExit(f"ours: fetched {summary.fetched}, stored {stored}, expected {n}")
        print(f"  ours: {n} letters -> {stored} messages in {conversations} conversations, {seconds:.2f}s")
        return seconds
    finally:
        await hub.close()
        await engine.dispose()


def helpdesk_python(venv: Path) -> tuple[Path | None, str]:
    """The venv's interpreter with django-helpdesk importable (installing it on demand), or a reason."""
    return peer_python(venv, "django-helpdesk[teams]", "helpdesk, django, pinax.teams", "django-helpdesk")


def helpdesk(python: Path, dovecot: Dovecot, workdir: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            str(python),
            str(HERE / "helpdesk_runner.py"),
            "127.0.0.1",
            str(dovecot.port),
            dovecot.user,
            dovecot.password,
            str(workdir / "helpdesk"),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise SystemExit(f"helpdesk runner failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def database_url(kind: str, workdir: Path) -> tuple[str, bool]:
    if kind == "postgresql":
        if not services.pg_available():
            raise SystemExit("PostgreSQL at 127.0.0.1:5432 is not available")
        return services.create_pg_database(), True
    return f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}", False


def run(n: int, work: Path, venv: Path = DEFAULT_VENV, *, helpdesk_too: bool = True) -> list[Row]:
    """``n`` letters in one dovecot, taken in by us on SQLite and on PostgreSQL, then by django-helpdesk
    (it deletes what it has read, so it goes last): rows for the run-all table. Without django-helpdesk
    (no venv and no index to install it from) the rows carry no baseline and say why."""
    dovecot = Dovecot()
    dovecot.start()
    try:
        for i in range(n):
            dovecot.deliver(generated_letter(i))
        rates: dict[str, float] = {}
        for label, kind in (("SQLite", "sqlite"), ("PostgreSQL", "postgresql")):
            if kind == "postgresql" and not services.pg_available():
                continue
            db_url, drop = database_url(kind, work)
            try:
                upgrade(db_url)
                rates[label] = n / asyncio.run(ours(db_url, dovecot, n, work / kind))
            finally:
                if drop:
                    services.drop_pg_database(db_url)
        hd_rate: float | None = None
        label = "django-helpdesk get_email"
        python, reason = helpdesk_python(venv) if helpdesk_too else (None, "not asked for")
        if python is not None:
            result = helpdesk(python, dovecot, work)
            if int(result["followups"]) < n:
                raise RuntimeError(f"django-helpdesk took in {int(result['followups'])} of {n} letters")
            hd_rate = n / result["seconds"]
        else:
            label = f"django-helpdesk skipped: {reason[:80]}"
        return [
            Row(
                f"email ingest ({n:,} letters, IMAP)",
                db,
                "taken in",
                rate,
                "letters/s",
                hd_rate,
                label,
                ">= 3x",
            )
            for db, rate in rates.items()
        ]
    finally:
        dovecot.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--no-helpdesk", action="store_true")
    parser.add_argument("--helpdesk-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
        workdir = Path(tmp)
        dovecot = Dovecot()
        dovecot.start()
        db_url, drop = database_url(args.db, workdir)
        try:
            for i in range(args.n):
                dovecot.deliver(generated_letter(i))
            upgrade(db_url)
            print(f"{args.n} letters in dovecot; database: {args.db}")
            ours_s = asyncio.run(ours(db_url, dovecot, args.n, workdir))
            ours_rate = args.n / ours_s
            print(f"ours (sync + processing):       {ours_rate:8.1f} letters/s")
            if args.no_helpdesk:
                return
            python, reason = helpdesk_python(args.helpdesk_venv)
            if python is None:
                print(f"django-helpdesk: skipped ({reason})")
                return
            result = helpdesk(python, dovecot, workdir)
            made = int(result["followups"])  # one follow-up per letter (a new ticket opens with one)
            hd_rate = args.n / result["seconds"]
            print(
                f"  django-helpdesk get_email: {int(result['tickets'])} tickets + "
                f"{int(result['followups'])} follow-ups, {result['seconds']:.2f}s"
            )
            if made < args.n:
                print(f"  (helpdesk took in {made} of {args.n} letters)")
            print(f"django-helpdesk (get_email):    {hd_rate:8.1f} letters/s")
            print(f"ratio ours / django-helpdesk:   {ours_rate / hd_rate:8.2f}x")
        finally:
            dovecot.cleanup()
            if drop:
                services.drop_pg_database(db_url)


if __name__ == "__main__":
    main()
