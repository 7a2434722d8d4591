"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against `inbox serve` child processes.

One Chromium (and one Playwright driver) serves the whole session: each test gets a new browser context, as
isolated as a new browser (own cookies, storage, cache), without paying for a driver and a browser start.
Playwright's objects belong to the event loop that made them, so the browser tests run on pytest-asyncio's
session loop (`pytestmark = E2E_LOOP` in each module), and so do the async fixtures they use."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.db import make_engine
from tests import services
from tests.conftest import reset_tables
from tests.failures import FAILED

# Every browser test and the async fixtures it uses run on the session's event loop, the shared browser's.
E2E_LOOP = pytest.mark.asyncio(loop_scope="session")

# Live updates cross processes and a loaded 2-core CI machine: give assertions room.
expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("INBOX_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """The session's one Chromium; tests take `browser` or `page`, which close what the test opened."""
    if not os.access(CHROMIUM, os.X_OK):
        services.missing(f"Chromium at {CHROMIUM}")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """The shared Chromium. Contexts a test opened and did not close are closed after it (screenshots
    first if it failed), so that no test sees another's tabs, cookies or storage."""
    before = set(chromium.contexts)
    try:
        yield chromium
    finally:
        left = [c for c in chromium.contexts if c not in before]
        if left and request.node.stash.get(FAILED, False) and "page" not in request.fixturenames:
            await shoot_all(chromium, request.node.name)
        for context in left:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """tests/conftest.py's engine, on the browser tests' (session) loop."""
    eng = make_engine(db_url)
    await reset_tables(eng)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    pg = await context.new_page()
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        if request.node.stash.get(FAILED, False):
            await shoot_all(browser, request.node.name)
        await context.close()


async def shoot_all(browser: Browser, test: str) -> None:
    """Every open tab of a failed test, for test-artifacts/ (best effort: a crashed tab is skipped)."""
    name = "".join(c if c.isalnum() else "-" for c in test)
    for i, context in enumerate(browser.contexts):
        for j, tab in enumerate(context.pages):
            try:
                await tab.screenshot(path=shot_path(f"failed-{name}-{i}-{j}"), timeout=5_000)
            except Exception as exc:  # diagnostics must not hide the test's own failure
                print(f"no screenshot of tab {i}-{j}: {exc}")


def shot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#thread-list")


CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "catalog" / "products.csv"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `inbox serve` on the demo shop (default configuration, bots on) with the test catalog, shared by
    the browser tests that each work in their own demo conversation."""
    from tests.server import ServeProcess, cli

    tmp = tmp_path_factory.mktemp("demo-serve")
    env = {
        "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'demo.sqlite3'}",
        "INBOX_DATA_DIR": str(tmp / "data"),
    }
    for args in (("db", "upgrade"), ("demo",), ("catalog", "import", str(CATALOG))):
        done = cli(env, tmp, *args)
        assert done.returncode == 0, done.stderr
    server = ServeProcess(env, tmp).start()
    try:
        yield server.url
    finally:
        server.stop()
