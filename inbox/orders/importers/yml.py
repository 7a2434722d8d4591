"""Yandex Market Language (YML): ``yml_catalog/shop/categories`` and ``offers``, streamed.

Per offer: ``@id``, ``@available``, ``vendorCode`` (the SKU; else ``@id``), ``name`` (else ``model``),
``price``, ``currencyId`` (RUB/RUR only), ``categoryId``, ``picture``*, ``description``, ``param``*
(``@name``, ``@unit``) and a stock count from ``count``, ``stock`` or ``quantity`` when present.
``available="false"`` means "made to order" in YML (not "hidden"): it is kept as the attribute
``_available`` = "false"; the product stays active. Element numbers in rejections count offers from 1.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

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
from inbox.orders.importers.xmlstream import children, first_children, local, stream, text

RUB = {"RUB", "RUR", ""}


def _wanted(name: str, ancestors: list[str]) -> bool:
    return (name == "category" and ancestors[-1:] == ["categories"]) or (
        name == "offer" and ancestors[-1:] == ["offers"]
    )


def _offer(elem: ET.Element, position: int, warehouse: str) -> Item:
    fields = first_children(elem)

    def field(name: str) -> str:
        return text(fields.get(name))

    offer_id = (elem.get("id") or "").strip()
    sku = field("vendorCode") or offer_id
    if not sku:
        return Rejection(position, "offer has neither vendorCode nor id")
    if len(sku) > 100:
        return Rejection(position, f"{sku[:20]}…: sku is longer than 100 characters")
    name = field("name") or field("model")
    if not name:
        return Rejection(position, f"{sku}: offer has no name")
    currency = field("currencyId").upper()
    if currency not in RUB:
        return Rejection(position, f"{sku}: currency {currency} is not supported (RUB only)")
    try:
        price = parse_price(field("price"))
        qty = None
        for tag in ("count", "stock", "quantity"):
            if field(tag):
                qty = parse_quantity(field(tag))
                break
    except ValueError as exc:
        return Rejection(position, f"{sku}: {exc}")
    attributes: dict[str, Any] = {}
    for param in children(elem, "param") if "param" in fields else ():
        key = (param.get("name") or "").strip()
        if key:
            unit = (param.get("unit") or "").strip()
            attributes[key] = f"{text(param)} {unit}".strip()
    for tag in ("vendor", "url", "barcode"):
        if field(tag):
            attributes[f"_{tag}"] = field(tag)
    if (elem.get("available") or "").strip().lower() == "false":
        attributes["_available"] = "false"
    category = field("categoryId")
    pictures = children(elem, "picture") if "picture" in fields else []
    return ProductRecord(
        position=position,
        sku=sku,
        external_id=offer_id or None,
        name=name,
        price=price,
        description=field("description"),
        images=[text(p) for p in pictures if text(p)],
        category_key=f"yml:{category}" if category else None,
        attributes=attributes,
        active=True,
        stock={warehouse: qty} if qty is not None else None,
    )


def parse(reader: CountingReader, warehouse: str) -> Iterator[Item]:
    offers = 0
    root_checked = False
    for elem, ancestors in stream(reader, _wanted):
        if not root_checked:
            root_checked = True
            if not ancestors or ancestors[0] != "yml_catalog":
                raise ImportFormatError(f"not a YML file: root element is {ancestors[:1] or local(elem.tag)}")
        if local(elem.tag) == "category":
            cid = (elem.get("id") or "").strip()
            if cid and text(elem):
                parent = (elem.get("parentId") or "").strip()
                yield CategoryRecord(
                    key=f"yml:{cid}", name=text(elem), parent_key=f"yml:{parent}" if parent else None
                )
            continue
        offers += 1
        yield _offer(elem, offers, warehouse)
