"""Streaming XML helpers: iterparse with finished elements removed from the tree as we go."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

from inbox.orders.errors import ImportFormatError
from inbox.orders.importers.common import CountingReader


@functools.cache  # a catalog has a few dozen distinct tags and millions of elements
def local(tag: str) -> str:
    """Tag without its namespace: "{urn:1C.ru:commerceml_2}Товар" → "Товар"."""
    return tag.rsplit("}", 1)[-1]


def text(elem: ET.Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


def child(elem: ET.Element, name: str) -> ET.Element | None:
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if local(c.tag) == name]


def child_text(elem: ET.Element, name: str) -> str:
    return text(child(elem, name))


def first_children(elem: ET.Element) -> dict[str, ET.Element]:
    """Each child's local name -> the first child of that name: one pass instead of one per lookup."""
    first: dict[str, ET.Element] = {}
    for c in elem:
        first.setdefault(local(c.tag), c)
    return first


Wanted = Callable[[str, list[str]], bool]  # (local name, ancestors' local names) -> yield it?


def stream(reader: CountingReader, wanted: Wanted) -> Iterator[tuple[ET.Element, list[str]]]:
    """Yield each complete element ``wanted(name, ancestors)`` selects, with its ancestors' local names;
    after the caller is done with it, the element is cleared and detached, so memory stays flat."""
    stack: list[ET.Element] = []
    names: list[str] = []
    try:
        for event, elem in ET.iterparse(reader, events=("start", "end")):
            if event == "start":
                stack.append(elem)
                names.append(local(elem.tag))
                continue
            stack.pop()
            name = names.pop()
            if wanted(name, names):
                yield elem, names
                elem.clear()
                if stack:
                    stack[-1].remove(elem)
            elif not stack:
                elem.clear()
    except ET.ParseError as exc:
        raise ImportFormatError(f"broken XML: {exc}") from exc
