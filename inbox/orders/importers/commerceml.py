"""CommerceML 2 from 1C (``import.xml`` + ``offers.xml``), streamed; tags with or without the
``urn:1C.ru:commerceml_2`` namespace, UTF-8 or windows-1251.

import.xml: ``Классификатор/Группы`` (nested groups → categories), ``Классификатор/Свойства`` (property
names and value directories), ``Каталог/Товары/Товар``: Ид, Артикул (the SKU; else Ид), Наименование,
Группы/Ид, Описание, Картинка*, ЗначенияСвойств, ЗначенияРеквизитов; ``ПометкаУдаления=true`` or
``@Статус="Удален"`` → inactive.

offers.xml: ``ПакетПредложений/Склады/Склад`` (warehouses: created as "1c-<Ид>" unless a warehouse already
carries that external id) and ``Предложения/Предложение``: Ид (product Ид, "#characteristic" ignored),
Цены/Цена/ЦенаЗаЕдиницу (first price), Количество (into the import's warehouse) or
``Склад@ИдСклада@КоличествоНаСкладе`` per warehouse. An offer for a product that is not in the catalog is
rejected. Characteristics (variants "Ид#Ид") map onto their product: the first offer wins, later ones are
rejected as duplicates.

Import ``import.xml`` first, then ``offers.xml``. Element numbers count Товар / Предложение from 1.
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
    WarehouseRecord,
    parse_price,
    parse_quantity,
)
from inbox.orders.importers.xmlstream import child, child_text, children, local, stream, text

ROOT = "КоммерческаяИнформация"
RUB = {"RUB", "RUR", "РУБ", "РУБ.", "643", ""}


def _wanted(name: str, ancestors: list[str]) -> bool:
    parent = ancestors[-1] if ancestors else ""
    return (
        (name == "Классификатор" and parent == ROOT)
        or (name == "Товар" and parent == "Товары")
        or (name == "Предложение" and parent == "Предложения")
        or (name == "Склад" and parent == "Склады")
    )


class _Classifier:
    def __init__(self) -> None:
        self.properties: dict[str, str] = {}  # property Ид -> name
        self.values: dict[str, str] = {}  # directory value Ид -> value

    def groups(self, elem: ET.Element, parent: str | None) -> Iterator[CategoryRecord]:
        for group in children(elem, "Группа"):
            gid = child_text(group, "Ид")
            name = child_text(group, "Наименование")
            if not gid or not name:
                continue
            key = f"1c:{gid}"
            yield CategoryRecord(key=key, name=name, parent_key=parent)
            nested = child(group, "Группы")
            if nested is not None:
                yield from self.groups(nested, key)

    def read(self, elem: ET.Element) -> Iterator[CategoryRecord]:
        props = child(elem, "Свойства")
        for prop in children(props, "Свойство") if props is not None else []:
            self.properties[child_text(prop, "Ид")] = child_text(prop, "Наименование")
            variants = child(prop, "ВариантыЗначений")
            for entry in children(variants, "Справочник") if variants is not None else []:
                self.values[child_text(entry, "ИдЗначения")] = child_text(entry, "Значение")
        groups = child(elem, "Группы")
        if groups is not None:
            yield from self.groups(groups, None)


def _product(elem: ET.Element, position: int, cls: _Classifier) -> Item:
    pid = child_text(elem, "Ид")
    sku = child_text(elem, "Артикул") or pid
    name = child_text(elem, "Наименование")
    if not sku:
        return Rejection(position, "Товар has neither Артикул nor Ид")
    if len(sku) > 100:
        return Rejection(position, f"{sku[:20]}…: sku is longer than 100 characters")
    if not name:
        return Rejection(position, f"{sku}: Товар has no Наименование")
    attributes: dict[str, Any] = {}
    props = child(elem, "ЗначенияСвойств")
    for value in children(props, "ЗначенияСвойства") if props is not None else []:
        prop_id = child_text(value, "Ид")
        raw = child_text(value, "Значение")
        if prop_id and raw:
            attributes[cls.properties.get(prop_id, prop_id)] = cls.values.get(raw, raw)
    requisites = child(elem, "ЗначенияРеквизитов")
    for req in children(requisites, "ЗначениеРеквизита") if requisites is not None else []:
        key = child_text(req, "Наименование")
        if key:
            attributes[key] = child_text(req, "Значение")
    groups = child(elem, "Группы")
    group_id = child_text(groups, "Ид") if groups is not None else ""
    deleted = child_text(elem, "ПометкаУдаления").lower() == "true" or elem.get("Статус") == "Удален"
    return ProductRecord(
        position=position,
        sku=sku,
        external_id=pid or None,
        name=name,
        description=child_text(elem, "Описание"),
        images=[text(p) for p in children(elem, "Картинка") if text(p)],
        category_key=f"1c:{group_id}" if group_id else None,
        attributes=attributes,
        active=not deleted,
    )


def _offer(elem: ET.Element, position: int, warehouse: str) -> Item:
    full_id = child_text(elem, "Ид")
    base_id = full_id.split("#", 1)[0]
    sku = child_text(elem, "Артикул") or base_id
    if not sku:
        return Rejection(position, "Предложение has neither Артикул nor Ид")
    price: int | None = None
    try:
        prices = child(elem, "Цены")
        first = child(prices, "Цена") if prices is not None else None
        if first is not None:
            currency = child_text(first, "Валюта").upper()
            if currency not in RUB:
                return Rejection(position, f"{sku}: currency {currency} is not supported (RUB only)")
            price = parse_price(child_text(first, "ЦенаЗаЕдиницу"))
        by_warehouse: dict[str, int] = {}
        for store in children(elem, "Склад"):
            ext = (store.get("ИдСклада") or "").strip()
            qty = parse_quantity(store.get("КоличествоНаСкладе"))
            if ext and qty is not None:
                by_warehouse[ext] = qty
        total = parse_quantity(child_text(elem, "Количество"))
    except ValueError as exc:
        return Rejection(position, f"{sku}: {exc}")
    return ProductRecord(
        position=position,
        sku=sku,
        external_id=base_id or None,
        price=price,
        stock={warehouse: total} if total is not None and not by_warehouse else None,
        stock_by_external=by_warehouse or None,
        offer_only=True,
    )


def parse(reader: CountingReader, warehouse: str) -> Iterator[Item]:
    cls = _Classifier()
    products = offers = 0
    root_checked = False
    for elem, ancestors in stream(reader, _wanted):
        if not root_checked:
            root_checked = True
            if not ancestors or ancestors[0] != ROOT:
                raise ImportFormatError(f"not a CommerceML file: root element is {ancestors[:1]}")
        name = local(elem.tag)
        if name == "Классификатор":
            yield from cls.read(elem)
        elif name == "Товар":
            products += 1
            yield _product(elem, products, cls)
        elif name == "Склад":
            ext = child_text(elem, "Ид")
            if ext:
                yield WarehouseRecord(external_id=ext, name=child_text(elem, "Наименование") or ext)
        else:
            offers += 1
            yield _offer(elem, offers, warehouse)
