"""Shared fixtures: the real database on SQLite and PostgreSQL, built by the migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.db import SessionFactory, make_engine, make_session_factory
from inbox.migrate import upgrade
from inbox.models import Base
from inbox.settings import Settings
from tests import services
from tests.failures import FAILED


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "inbox.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    url = services.create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture
def private_pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, migrated: what other tests left in the shared one (rows,
    counters, a server or worker still running) cannot meet it."""
    if not services.pg_available():
        services.missing("PostgreSQL at 127.0.0.1:5432")
    url = services.create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        services.drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


async def reset_tables(engine: AsyncEngine) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                await conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    await reset_tables(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> SessionFactory:
    return make_session_factory(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The default configuration (bots on); a test about managers-only mode replaces bots_enabled."""
    return Settings(
        database_url=db_url,
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
    )


_CI_LOG: list[tuple[str, str]] = []  # (test, text) to print at the end of the run, passed or failed


@pytest.fixture
def ci_log(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Lines a test wants in CI's log whether it passes or fails (its counts, its seed). They travel in the
    test's report, so they reach the terminal from a pytest-xdist worker too, and are printed at the end."""
    return lambda text: request.node.user_properties.append(("ci-log", text))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _CI_LOG.extend((report.nodeid, text) for name, text in report.user_properties if name == "ci-log")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _CI_LOG:
        terminalreporter.section("what tests logged for CI")
        for nodeid, text in _CI_LOG:
            terminalreporter.write_line(f"{nodeid}: {text}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """A failed test that ran `inbox serve` children shows the end of their logs (CI keeps no files)."""
    report = yield
    if report.failed:
        item.stash[FAILED] = True
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if isinstance(tmp, Path):
            for log in sorted(tmp.glob("**/serve-*.log")):
                tail = log.read_text(errors="replace")[-6000:]
                report.sections.append((f"{log.name} (its last 6,000 characters)", tail))
    return report
