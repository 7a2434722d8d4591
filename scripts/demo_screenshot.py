"""Regenerate docs/inbox.png (the README's picture) from the demo shop at desktop size:
`python scripts/demo_screenshot.py` (a fresh SQLite demo in a temporary directory, Debian's Chromium)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402
from tests.e2e.conftest import ARGS, CHROMIUM, sign_in  # noqa: E402
from tests.server import ServeProcess, cli  # noqa: E402

OUT = ROOT / "docs" / "inbox.png"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        env = {
            "INBOX_DATABASE_URL": f"sqlite+aiosqlite:///{where / 'demo.sqlite3'}",
            "INBOX_DATA_DIR": str(where / "data"),
        }
        for args in (("db", "upgrade"), ("demo",)):
            done = cli(env, where, *args)
            assert done.returncode == 0, done.stderr
        server = ServeProcess(env, where).start()
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="ru-RU")
                await sign_in(page, server.url, DEMO_EMAIL, DEMO_PASSWORD)
                await expect(page.locator("#live")).to_have_class("live on")
                await page.locator(".thread-item", has_text="Анна Смирнова").locator("a").click()
                await expect(page.locator("#order-panel .tracking a")).to_be_visible()
                await page.wait_for_timeout(500)  # let the delivery marks of the demo's first sends settle
                await page.screenshot(path=str(OUT))
                await browser.close()
        finally:
            server.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
