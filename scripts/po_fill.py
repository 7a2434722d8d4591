"""Fill Russian translations into locales/ru/LC_MESSAGES/messages.po from a JSON file {msgid: msgstr}
and list what is still untranslated: `python scripts/po_fill.py [translations.json]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "locales" / "ru" / "LC_MESSAGES" / "messages.po"


def main() -> int:
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="ru")
    if len(sys.argv) > 1:
        updates = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
        for message in catalog:
            key = message.id if isinstance(message.id, str) else (message.id[0] if message.id else "")
            if key and key in updates:
                value = updates[key]
                message.string = tuple(value) if isinstance(message.id, tuple) else value
        with PO.open("wb") as fh:
            write_po(fh, catalog, width=120)
    missing = [
        m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)
    ]
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
