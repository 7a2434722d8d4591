"""Append new msgids with their Russian translations to the catalogs without re-wrapping the files:
`python scripts/po_add.py new.json` where new.json is {msgid: msgstr}. Entries already present are skipped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def add(po: Path, entries: dict[str, str], translate: bool) -> int:
    text = po.read_text(encoding="utf-8")
    block = []
    for msgid, msgstr in entries.items():
        if f"\nmsgid {quote(msgid)}\n" in text:
            continue
        flag = "#, python-format\n" if "%(" in msgid else ""
        block.append(f"{flag}msgid {quote(msgid)}\nmsgstr {quote(msgstr if translate else '')}\n")
    if not block:
        return 0
    marker = "\n#~ "
    addition = "\n" + "\n".join(block)
    if marker in text:
        head, tail = text.split(marker, 1)
        text = head.rstrip("\n") + "\n" + addition + marker + tail
    else:
        text = text.rstrip("\n") + "\n" + addition
    po.write_text(text, encoding="utf-8")
    return len(block)


def main() -> int:
    entries = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print("ru:", add(LOCALES / "ru" / "LC_MESSAGES" / "messages.po", entries, True))
    print("en:", add(LOCALES / "en" / "LC_MESSAGES" / "messages.po", entries, False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
