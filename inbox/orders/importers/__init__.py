"""Catalog import: CSV, YML (Yandex Market) and CommerceML 2 (1C), streamed and idempotent.

``await import_catalog(factory, path)`` detects the format from the extension and the root element, reads
the file as a stream, writes ``batch_size`` products per transaction, and returns an ``ImportSummary``
(created / updated / unchanged / rejected with positions and reasons / warnings). ``progress(done, total)``
is called with bytes read and the file size, for a progress bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

from inbox.db import SessionFactory
from inbox.orders.errors import ImportFormatError
from inbox.orders.importers import commerceml, csv, yml
from inbox.orders.importers.common import (
    BATCH_SIZE,
    CatalogWriter,
    CountingReader,
    ImportSummary,
    Item,
    Progress,
    Rejection,
    parse_price,
)

FORMATS = ("csv", "yml", "commerceml")
__all__ = [
    "FORMATS",
    "ImportSummary",
    "Progress",
    "Rejection",
    "detect_format",
    "import_catalog",
    "parse_price",
]


def detect_format(path: Path) -> str:
    """csv by extension; for XML the root element decides (yml_catalog / КоммерческаяИнформация)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    with path.open("rb") as f:
        head = f.read(4096)
    if b"<yml_catalog" in head:
        return "yml"
    for encoding in ("utf-8", "cp1251"):
        if "КоммерческаяИнформация".encode(encoding) in head:
            return "commerceml"
    if suffix == ".yml":
        return "yml"
    raise ImportFormatError(f"cannot tell the format of {path.name}: expected CSV, YML or CommerceML")


def _take(items: Iterator[Item], n: int) -> list[Item]:
    return list(itertools.islice(items, n))


async def import_catalog(
    factory: SessionFactory,
    path: Path,
    fmt: str | None = None,
    warehouse: str = "main",
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Import a catalog file. Raises ImportFormatError when the file cannot be read at all; bad rows and
    elements are rejected in the summary instead. Batches already written stay written if a later one
    fails. Parsing runs in a worker thread (``progress`` is called from there), writing on the loop."""
    if not await asyncio.to_thread(path.is_file):
        raise ImportFormatError(f"{path} is not a file")
    fmt = fmt or await asyncio.to_thread(detect_format, path)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    summary = ImportSummary(fmt=fmt)
    writer = CatalogWriter(factory, summary, warehouse, batch_size)
    await writer.start()
    parser = {"csv": csv.parse, "yml": yml.parse, "commerceml": commerceml.parse}[fmt]
    size = (await asyncio.to_thread(path.stat)).st_size
    raw = await asyncio.to_thread(path.open, "rb")
    ahead: asyncio.Future[list[Item]] | None = None
    try:
        reader = CountingReader(raw, size, progress)
        items = parser(reader, warehouse)
        # The next chunk is parsed (in a thread) while this one is written (mostly in SQLite's or the
        # network's wait): the two overlap instead of taking turns.
        ahead = asyncio.ensure_future(asyncio.to_thread(_take, items, batch_size))
        while chunk := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(_take, items, batch_size))
            for item in chunk:
                await writer.add(item)
        await writer.finish()
        reader.finish()
    finally:
        if ahead is not None and not ahead.done():
            with contextlib.suppress(Exception):
                await ahead  # the parser thread still reads the file: let it finish before closing it
        raw.close()
    return summary
