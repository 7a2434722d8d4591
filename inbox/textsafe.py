"""Hostile text at the edges: JSON that is too deep for the parser, NUL characters that PostgreSQL refuses
(text and jsonb), integers no database column holds. Provider payloads are parsed with ``loads``; every string
and JSON value bound to a query passes ``scrub`` (installed on the engine by ``inbox.db``)."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64
NUL = "\x00"
REPLACEMENT = "\ufffd"
INT64_MAX = 2**63 - 1


def scrub(value: Any) -> Any:
    """``value`` with every NUL in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def loads(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises ValueError (never RecursionError) for deep nesting and bad UTF-8,
    and replaces NUL characters."""
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8: {exc.reason}") from exc
    if depth(value) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return scrub(value)


def dumps(value: Any) -> str:
    """The engine's JSON serializer: PostgreSQL's jsonb refuses \\u0000."""
    return json.dumps(scrub(value))


def fits_int64(value: int) -> bool:
    return -INT64_MAX - 1 <= value <= INT64_MAX
