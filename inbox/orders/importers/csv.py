"""CSV catalog: one product per row, streamed line by line.

Columns (header row required, any order, case-insensitive; comma, semicolon or tab separated; UTF-8 with or
without BOM, or Windows-1251):

    sku          required, unique in the file
    name         required
    price        required, RUB: "1990", "1990.00", "1 990,00", "1 990 ₽"
    stock        on hand in ``warehouse``; empty = leave stock as it is
    category     path "Одежда/Куртки" (or "Одежда > Куртки"); parents are created
    description  text
    images       http(s) URLs separated by "|" (or whitespace)
    related      SKUs separated by "|" or ","
    active       1/0, true/false, yes/no, да/нет; empty = active
    warehouse    warehouse code; empty = the import's warehouse (default "main")

A bad row is rejected with its line number and the reason; the other rows are imported.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator

from inbox.orders.errors import ImportFormatError
from inbox.orders.importers.common import (
    CategoryRecord,
    CountingReader,
    Item,
    ProductRecord,
    Rejection,
    parse_price,
    parse_quantity,
)

COLUMNS = (
    "sku",
    "name",
    "price",
    "stock",
    "category",
    "description",
    "images",
    "related",
    "active",
    "warehouse",
)
REQUIRED = ("sku", "name", "price")
_TRUE = {"1", "true", "yes", "y", "да", "+"}
_FALSE = {"0", "false", "no", "n", "нет", "-"}
_URL = re.compile(r"^https?://\S+$")


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp1251"
    return "utf-8"


def _lines(reader: CountingReader, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    while True:
        raw = reader.readline()
        if not raw:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise ImportFormatError(f"the file is not valid {encoding}: {exc.reason}") from exc


def _active(raw: str) -> bool:
    value = raw.strip().lower()
    if value == "" or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"active must be 1/0, true/false, yes/no, got {raw!r}")


def _category(raw: str) -> list[CategoryRecord]:
    parts = [p.strip() for p in re.split(r"\s*(?:/|>)\s*", raw) if p.strip()]
    out: list[CategoryRecord] = []
    for i, name in enumerate(parts):
        key = "path:" + "/".join(parts[: i + 1])
        parent = "path:" + "/".join(parts[:i]) if i else None
        out.append(CategoryRecord(key=key[:200], name=name, parent_key=parent[:200] if parent else None))
    return out


def parse(reader: CountingReader, warehouse: str) -> Iterator[Item]:
    head = reader.raw.read(64 * 1024)
    reader.raw.seek(0)
    encoding = _encoding(head)
    lines = _lines(reader, encoding)
    first = next(lines, None)
    if first is None:
        raise ImportFormatError("the CSV file is empty")
    delimiter = max((",", ";", "\t"), key=first.count)

    def all_lines() -> Iterator[str]:
        yield first
        yield from lines

    rows = csv.reader(all_lines(), delimiter=delimiter)
    header = [h.strip().lower() for h in next(rows)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFormatError(f"CSV header lacks required columns: {', '.join(missing)} (have {header})")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ImportFormatError(f"unknown CSV columns {unknown}; known: {', '.join(COLUMNS)}")
    index = {name: i for i, name in enumerate(header)}
    known_categories: set[str] = set()
    line = rows.line_num
    for row in rows:
        start, line = line + 1, rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield Rejection(start, f"expected {len(header)} columns, got {len(row)}")
            continue

        def cell(name: str, row: list[str] = row) -> str:
            return row[index[name]].strip() if name in index else ""

        sku = cell("sku")
        try:
            if not sku:
                raise ValueError("sku is empty")
            if len(sku) > 100:
                raise ValueError("sku is longer than 100 characters")
            name = cell("name")
            if not name:
                raise ValueError("name is empty")
            price = parse_price(cell("price"))
            if cell("stock").startswith("-"):
                raise ValueError(f"stock {cell('stock')!r} is negative")
            qty = parse_quantity(cell("stock"))
            active = _active(cell("active"))
            images = [u for u in re.split(r"[|\s]+", cell("images")) if u]
            bad = [u for u in images if not _URL.match(u)]
            if bad:
                raise ValueError(f"image {bad[0]!r} is not an http(s) URL")
            related = [r for r in re.split(r"[|,;\s]+", cell("related")) if r]
        except ValueError as exc:
            yield Rejection(start, f"{sku or '?'}: {exc}")
            continue
        category_key = None
        if cell("category"):
            cats = _category(cell("category"))
            for cat in cats:
                if cat.key not in known_categories:
                    known_categories.add(cat.key)
                    yield cat
            category_key = cats[-1].key if cats else None
        yield ProductRecord(
            position=start,
            sku=sku,
            name=name,
            price=price,
            description=cell("description") if "description" in index else None,
            images=images if "images" in index else None,
            category_key=category_key,
            active=active,
            related=related if "related" in index else None,
            stock={cell("warehouse") or warehouse: qty} if qty is not None else None,
        )
