"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against `inbox serve` child processes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests import services
from tests.failures import FAILED

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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        services.missing(f"Chromium at {CHROMIUM}")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
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
