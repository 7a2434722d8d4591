"""The XML and CSV parsers stream: memory does not grow with the number of offers/rows."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator

from inbox.orders.importers import commerceml, csv, yml
from inbox.orders.importers.common import CountingReader, Item, ProductRecord


def _yml(n: int) -> bytes:
    offers = "".join(
        f'<offer id="{i}"><price>{i}.00</price><currencyId>RUB</currencyId><name>Товар {i}</name>'
        f"<vendorCode>S{i}</vendorCode><description>{'длинное описание ' * 20}</description>"
        f'<param name="Цвет">синий</param></offer>'
        for i in range(n)
    )
    return f"<yml_catalog><shop><offers>{offers}</offers></shop></yml_catalog>".encode()


def _cml(n: int) -> bytes:
    goods = "".join(
        f"<Товар><Ид>id-{i}</Ид><Артикул>A{i}</Артикул><Наименование>Товар {i}</Наименование>"
        f"<Описание>{'описание ' * 30}</Описание></Товар>"
        for i in range(n)
    )
    return (
        '<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_2"><Каталог><Товары>'
        f"{goods}</Товары></Каталог></КоммерческаяИнформация>"
    ).encode()


def _csv(n: int) -> bytes:
    rows = "".join(f"S{i},Товар {i},{i}.00,{'описание ' * 30}\n" for i in range(n))
    return ("sku,name,price,description\n" + rows).encode()


Parser = Callable[[CountingReader, str], Iterator[Item]]


def _peak(parser: Parser, data: bytes) -> tuple[int, int]:
    """Peak traced memory while consuming every item (items are dropped as they come)."""
    tracemalloc.start()
    try:
        count = 0
        for item in parser(CountingReader(io.BytesIO(data), len(data), None), "main"):
            count += isinstance(item, ProductRecord)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _check_flat(parser: Parser, make: Callable[[int], bytes]) -> None:
    small, large = make(1000), make(10000)
    n_small, peak_small = _peak(parser, small)
    n_large, peak_large = _peak(parser, large)
    assert (n_small, n_large) == (1000, 10000)
    # ten times the data, far less than ten times the memory (the whole tree would be > 10x)
    assert peak_large < 3 * peak_small, (peak_small, peak_large, len(large))
    assert peak_large < len(large) // 2


def test_yml_parser_memory_is_flat() -> None:
    _check_flat(yml.parse, _yml)


def test_commerceml_parser_memory_is_flat() -> None:
    _check_flat(commerceml.parse, _cml)


def test_csv_parser_memory_is_flat() -> None:
    _check_flat(csv.parse, _csv)
