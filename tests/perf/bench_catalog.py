"""Catalog import rate (a generated Yandex YML) on SQLite and PostgreSQL, beside the issue's 5,000 offers/s.

python -m tests.perf.bench_catalog [--offers 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from inbox.db import make_engine, make_session_factory
from inbox.migrate import upgrade
from tests import services
from tests.perf.bench_orders import bench_import, write_yml
from tests.perf.table import Row

TARGET = 5000.0  # offers/s (issue 12): a target, not a same-run baseline; the row says so


async def _one(url: str, yml: Path, offers: int) -> float:
    engine = make_engine(url)
    try:
        seconds, n = await bench_import(make_session_factory(engine), yml, offers)
        return n / seconds
    finally:
        await engine.dispose()


def run(offers: int, work: Path) -> list[Row]:
    yml = work / "catalog.yml"
    write_yml(yml, offers)
    urls = [("SQLite", f"sqlite+aiosqlite:///{work / 'catalog.sqlite3'}")]
    pg = services.create_pg_database() if services.pg_available() else None
    if pg is not None:
        urls.append(("PostgreSQL", pg))
    rows = []
    try:
        for label, url in urls:
            upgrade(url)
            rate = asyncio.run(_one(url, yml, offers))
            rows.append(
                Row(
                    f"catalog import ({offers:,} offers)",
                    label,
                    "import",
                    rate,
                    "offers/s",
                    TARGET,
                    "target",
                    ">= 1x",
                )
            )
    finally:
        if pg is not None:
            services.drop_pg_database(pg)
    return rows


def main() -> None:
    from tests.perf.table import render_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(render_text(run(args.offers, Path(tmp))))


if __name__ == "__main__":
    main()
